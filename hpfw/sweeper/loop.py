"""The sweep loop: ask, record, run, record, tell, report; the same for Hydra and Python.

The loop knows nothing of Hydra. A ``TrialRunner`` turns trials into work and
work into ``Outcome``s: ``hpfw.sweeper.hydra_trials`` launches Hydra jobs
through any Hydra launcher, ``python_trials`` calls a Python objective. The
journal (``trials.jsonl``) is the single source of truth: every trial is
appended when launched and again when it ends, before the strategy hears of
it, so a sweep can always be resumed, joined by more drivers, and reported
from it (``session.SweepSession``). ``run_sweep`` launches batches and waits
for each; with ``concurrent_trials`` set it hands over to ``async_loop``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hpfw.search import Distribution, Strategy, Trial
from hpfw.sweeper.outcome import Outcome
from hpfw.sweeper.session import SweepSession, planned_total
from hpfw.sweeper.settings import SweepSettings

log = logging.getLogger("hpfw.sweeper")

__all__ = ["TrialRunner", "planned_total", "run_sweep"]  # planned_total lives in session.py


class TrialRunner(Protocol):
    """Runs a sweep's trials; the loop calls these in this order.

    In an asynchronous sweep ``run`` is called from several threads at once,
    one trial each; ``start`` is always called under the sweep's lock. A
    runner may also have ``start_runtime()``: the asynchronous loop calls it
    once, in the main thread, before its drivers launch anything.
    """

    def prepare(self, strategy: Strategy, header: dict[str, Any]) -> None:
        """Once, before the first trial: check the strategy's needs; may amend a new header."""

    def start(self, trial: Trial, job: int) -> dict[str, Any]:
        """The journal record of ``trial`` launched as job ``job`` (``journal.started``)."""
        ...

    def run(self, trials: Sequence[Trial], records: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Runs the batch and returns one outcome per trial, in order."""
        ...


def run_sweep(
    settings: SweepSettings,
    space: Mapping[str, Distribution],
    runner: TrialRunner,
    sweep_dir: Path,
    header: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs (or resumes, or joins) the sweep in ``sweep_dir``; returns its header and records.

    ``header`` is the header a new sweep would get (``resume.new_header``).
    Reports are rewritten after every batch and once more however the loop ends.
    """
    session = SweepSession(settings, space, runner, sweep_dir, header)
    try:
        session.open()
        if settings.concurrent_trials:
            from hpfw.sweeper.async_loop import run_async

            run_async(session, runner, settings.concurrent_trials)
        else:
            _run_batches(session, runner, settings.batch_size)
    finally:
        records = session.close()
    return session.header, records


def _run_batches(session: SweepSession, runner: TrialRunner, batch_size: int) -> None:
    """Batch-synchronous: a batch launches once the one before has ended."""
    while True:
        claimed = session.claim(batch_size)
        if not claimed:
            if session.done:
                break
            session.wait()  # other drivers' trials are running; they may free more work
            continue
        trials = [t for t, _ in claimed]
        outcomes = runner.run(trials, [r for _, r in claimed])
        session.finish(list(zip(trials, outcomes, strict=True)))
        session.raise_if_stopped()
    session.raise_if_stopped()
