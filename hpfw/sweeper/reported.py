"""What a trial reported through its channel, joined to how it ended: its values, and ``pruned``.

A trial that raised ``hpfw.TrialPruned``, or whose ``should_prune()`` said yes
before it returned, ends as ``pruned``: no objective value (its reported
values are kept), no traceback, and it counts as neither complete nor failed.
"""

from __future__ import annotations

from pathlib import Path

from hpfw.pruning.channel import read_reports
from hpfw.search import TrialState
from hpfw.sweeper.outcome import Outcome


def pruned(metrics: dict | None = None) -> Outcome:
    """The outcome of a pruned trial, keeping whatever metrics it returned."""
    return Outcome(TrialState.pruned, None, dict(metrics or {}))


def with_reports(
    outcome: Outcome, sweep_dir: Path, job: int
) -> tuple[Outcome, dict[int, float], dict[str, dict[int, float]]]:
    """``outcome`` made ``pruned`` when the trial was, and the values it reported."""
    reported = read_reports(sweep_dir, job)
    told_to_stop = reported.pruned_at is not None
    # Told to stop, it returned: a NaN from hpfw's trainer, or its last value.
    if told_to_stop and outcome.state in (TrialState.complete, TrialState.diverged):
        outcome = pruned(outcome.metrics)
    return outcome, reported.values, reported.metrics
