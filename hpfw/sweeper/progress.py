"""A sweep's progress: a live bar in a terminal, else one log line per batch.

The line (or the bar) shows trials done of total, running, failed, the best so
far and the time left. The bar lives in ``hpfw.sweeper.live`` (rich loads only
for it); logs, CI and SLURM get the plain lines.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpfw.search import Trial, TrialState

if TYPE_CHECKING:
    from rich.console import Console

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
    rate, which only this process's trials measure. ``console`` is where a bar
    would go (default: stderr); ``bar`` forces the choice (default: a terminal
    gets one, see ``hpfw.sweeper.live.wants_bar``).
    """

    def __init__(
        self,
        total: int,
        done: int,
        failures: int,
        *,
        console: Console | None = None,
        bar: bool | None = None,
    ) -> None:
        self.total = total
        self.done = done
        self.failures = failures
        self.running = 0
        self.best: Trial | None = None
        self._done_at_start = done
        self._started = time.monotonic()
        self._bar: Any = None
        from hpfw.sweeper import live

        if bar if bar is not None else live.wants_bar(console):
            self._bar = live.Bar(console)

    def started(self, n: int) -> None:
        """``n`` trials were launched."""
        self.running += n
        self._show()

    def finished(self, failed: bool) -> None:
        self.done += 1
        self.failures += failed
        self.running = max(0, self.running - 1)
        self._show()

    def left(self) -> float:
        """Seconds to go at this process's rate so far (NaN before a trial ended)."""
        elapsed = time.monotonic() - self._started
        ran = self.done - self._done_at_start
        return elapsed / ran * (self.total - self.done) if ran else math.nan

    def best_text(self) -> str:
        best = self.best
        return f"best {best.value:.6g} (trial {best.id})" if best else "no result yet"

    def log(self, best: Trial | None) -> None:
        """After a batch: the bar's new state, or one log line."""
        self.best = best
        if self._bar is not None:
            self._show()
            return
        log.info(
            "[%d/%d] %s | %d failed | %s elapsed, ~%s left",
            self.done,
            self.total,
            self.best_text(),
            self.failures,
            clock(time.monotonic() - self._started),
            clock(self.left()),
        )

    def close(self) -> None:
        """Stops the bar (leaving its last state on screen); nothing for plain lines."""
        if self._bar is not None:
            self._bar.close()

    def _show(self) -> None:
        if self._bar is None:
            return
        best = self.best
        best_text = f"best {best.value:.4g} (#{best.id})" if best else "no result yet"
        # Short: a narrow terminal cuts the end of the line.
        status = (
            f"{self.running} running, {self.failures} failed, {best_text}, ETA {clock(self.left())}"
        )
        self._bar.update(self.done, self.total, status)


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
