"""The sweep loop: ask, record, run, record, tell, report; the same for Hydra and Python.

The loop knows nothing of Hydra. A ``TrialRunner`` turns trials into work and
work into ``Outcome``s: ``hpfw.sweeper.hydra_jobs`` launches Hydra jobs through
any Hydra launcher, and a Python objective can be run the same way. The
journal (``trials.jsonl``) is the single source of truth: every trial is
appended when launched and again when it ends, by this process alone, before
the strategy hears of it, so a sweep can always be resumed from it and
reported from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hpfw.process import allocate_gpu_memory_on_demand
from hpfw.search import Distribution, Strategy, Trial, TrialState, create_strategy
from hpfw.sweeper import reports
from hpfw.sweeper.journal import Journal, finished
from hpfw.sweeper.outcome import Outcome
from hpfw.sweeper.progress import Progress
from hpfw.sweeper.resume import open_journal, replay
from hpfw.sweeper.settings import SweepError, SweepSettings

log = logging.getLogger("hpfw.sweeper")

PLOT_INTERVAL_S = 10.0  # redraw the plots at most this often while running (they cost ~0.3 s)


class TrialRunner(Protocol):
    """Runs a sweep's trials; the loop calls these in this order."""

    def prepare(self, strategy: Strategy, header: dict[str, Any]) -> None:
        """Once, before the first trial: check the strategy's needs; may amend a new header."""

    def start(self, trial: Trial, job: int) -> dict[str, Any]:
        """The journal record of ``trial`` launched as job ``job`` (``journal.started``)."""
        ...

    def run(self, trials: Sequence[Trial], records: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Runs the batch and returns one outcome per trial, in order."""
        ...


def planned_total(strategy: Strategy, settings: SweepSettings) -> int:
    """Trials to run: n_trials, or fewer when the strategy plans fewer (a grid's size)."""
    planned, cap = strategy.max_trials, settings.n_trials
    if cap is None and planned is None:
        raise SweepError(
            f"Invalid {settings.names('n_trials')}: got None; the {settings.strategy} "
            "strategy does not end by itself, so give an integer >= 1"
        )
    return min(x for x in (cap, planned) if x is not None)


def run_sweep(
    settings: SweepSettings,
    space: Mapping[str, Distribution],
    runner: TrialRunner,
    sweep_dir: Path,
    header: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs (or resumes) the sweep in ``sweep_dir``; returns its header and final records.

    ``header`` is the header a new sweep would get (``resume.new_header``).
    Reports are rewritten after every batch and once more however the loop ends.
    """
    # The sweeper's own model (bayes) may start JAX: share a GPU with the trials.
    allocate_gpu_memory_on_demand()
    journal = Journal(sweep_dir)
    header, records = open_journal(journal, settings, header)
    strategy = create_strategy(
        settings.strategy,
        space,
        direction=settings.direction,
        seed=header["seed"],
        **settings.options,
    )
    total = planned_total(strategy, settings)
    runner.prepare(strategy, header)
    if not journal.exists():  # only once the strategy accepted its settings
        journal.write_header(header)
    rerun = replay(strategy, records)
    by_id = {r["id"]: r for r in records}
    done = sum(r["state"] != TrialState.running for r in records)
    failures = sum(r["state"] in (TrialState.failed, TrialState.diverged) for r in records)
    next_job = max((r["job"] for r in records), default=-1) + 1
    progress = Progress(total, done, failures)
    log.info(
        "hpfw sweep: %s, %d trials in batches of %d, %s %s -> %s",
        settings.strategy,
        total,
        settings.batch_size,
        settings.direction,
        settings.objective or "objective",
        sweep_dir,
    )
    if done:
        log.info("resuming: %d trials done, %d to run again", done, len(rerun))
    last_plot = 0.0
    warned = False  # about a tie-breaker metric the trials do not return
    try:
        while progress.done < total:
            want = min(settings.batch_size, total - progress.done)
            batch, rerun = rerun[:want], rerun[want:]
            if len(batch) < want:
                batch += strategy.ask(want - len(batch))
            if not batch:
                log.info("the %s strategy has no more trials to propose", settings.strategy)
                break
            launched = [runner.start(trial, next_job + k) for k, trial in enumerate(batch)]
            next_job += len(batch)
            for trial, record in zip(batch, launched, strict=True):
                trial.inactive = frozenset(record["inactive"])
                by_id[trial.id] = record
            journal.append_many(launched)
            outcomes = runner.run(batch, launched)
            ended = [
                _end(trial, outcome, by_id, progress)
                for trial, outcome in zip(batch, outcomes, strict=True)
            ]
            # The batch's results reach the journal before the strategy hears them.
            journal.append_many(ended)
            for trial, outcome in zip(batch, outcomes, strict=True):
                strategy.tell(trial, outcome.value)
            warned = warned or _warn_without_tie_breaker(header, ended, settings)
            fatal = next((o for o in outcomes if o.stops_sweep), None)
            if fatal is not None:
                raise SweepError(fatal.error)
            plots = time.monotonic() - last_plot > PLOT_INTERVAL_S
            best = reports.write_reports(sweep_dir, header, _sorted(by_id), plots=plots)
            last_plot = time.monotonic() if plots else last_plot
            # The sweep's best (best.yaml's: ties broken by the tie-breaker), not
            # strategy.best, which knows only the objective.
            progress.log(_as_trial(best))
            if progress.failures > settings.max_failures:
                raise SweepError(
                    f"stopping: {progress.failures} trials failed or diverged, more than "
                    f"{settings.names('max_failures')}={settings.max_failures}; see {journal.path}"
                )
    finally:
        if by_id:
            reports.write_reports(sweep_dir, header, _sorted(by_id), plots=True)
    return header, _sorted(by_id)


def _end(trial: Trial, outcome: Outcome, by_id: dict[int, dict], progress: Progress) -> dict:
    """Records ``outcome`` as ``trial``'s final record; counts and logs a failure."""
    trial.state = outcome.state
    record = finished(
        by_id[trial.id],
        outcome.state.value,
        outcome.value,
        outcome.metrics,
        error=outcome.error,
        traceback=outcome.traceback,
    )
    by_id[trial.id] = record
    failed = outcome.state != TrialState.complete
    progress.finished(failed)
    if failed:
        log.warning("trial %d %s: %s", trial.id, outcome.state, outcome.error)
    return record


def _warn_without_tie_breaker(
    header: dict[str, Any], ended: Sequence[dict], settings: SweepSettings
) -> bool:
    """Warns when a complete trial lacks the tie-breaker metric; True if it warned."""
    metric = header.get("tie_breaker")
    for record in ended:
        metrics = record.get("metrics") or {}
        if metric and record["state"] == TrialState.complete and metric not in metrics:
            log.warning(
                "%s=%s: trial %d returned no such metric (it returned: %s); trials tied on "
                "the objective without it rank by id",
                settings.names("tie_breaker"),
                metric,
                record["id"],
                ", ".join(metrics) or "a number, no mapping",
            )
            return True
    return False


def _as_trial(record: dict[str, Any] | None) -> Trial | None:
    if record is None:
        return None
    return Trial(record["id"], dict(record["params"]), value=record["value"])


def _sorted(by_id: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [by_id[k] for k in sorted(by_id)]
