"""A sweep's progress line after each batch: trials done of total, best so far, time left."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from hpfw.search import Trial, TrialState

log = logging.getLogger("hpfw.sweeper")


def clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``; ``?`` when unknown."""
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts what ran since the sweep (re)started, to estimate the time left honestly.

    Trials already finished before a resume are counted as done but not in the
    rate, which only this process's trials measure.
    """

    def __init__(self, total: int, done: int, failures: int) -> None:
        self.total = total
        self.done = done
        self.failures = failures
        self._done_at_start = done
        self._started = time.monotonic()

    def finished(self, failed: bool) -> None:
        self.done += 1
        self.failures += failed

    def log(self, best: Trial | None) -> None:
        elapsed = time.monotonic() - self._started
        ran = self.done - self._done_at_start
        left = elapsed / ran * (self.total - self.done) if ran else math.nan
        best_text = f"best {best.value:.6g} (trial {best.id})" if best else "no result yet"
        log.info(
            "[%d/%d] %s | %d failed | %s elapsed, ~%s left",
            self.done,
            self.total,
            best_text,
            self.failures,
            clock(elapsed),
            clock(left),
        )


def warn_without_tie_breaker(header: dict[str, Any], ended: Sequence[dict], names: Any) -> bool:
    """Warns when a complete trial lacks the tie-breaker metric; True if it warned."""
    metric = header.get("tie_breaker")
    for record in ended:
        metrics = record.get("metrics") or {}
        if metric and record["state"] == TrialState.complete and metric not in metrics:
            log.warning(
                "%s=%s: trial %d returned no such metric (it returned: %s); trials tied on "
                "the objective without it rank by id",
                names("tie_breaker"),
                metric,
                record["id"],
                ", ".join(metrics) or "a number, no mapping",
            )
            return True
    return False


def as_trial(record: dict[str, Any] | None) -> Trial | None:
    """A journal record as the ``Trial`` a progress line names."""
    if record is None:
        return None
    return Trial(record["id"], dict(record["params"]), value=record["value"])
