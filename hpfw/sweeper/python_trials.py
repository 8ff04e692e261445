"""Trials as calls of a Python objective: in this process, or ``n_jobs`` threads or processes.

The ``TrialRunner`` behind ``hpfw.sweep``. A batch runs through joblib (loky
processes, which pickle the objective with cloudpickle, so lambdas and
closures work; or threads, for objectives that release the GIL, such as a
compiled JAX program). Where a trial runs never changes what it is: the
strategy proposes the same batches whatever ``n_jobs`` is.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpfw.pruning.api import TrialPruned, channel_for, report, trial_context
from hpfw.search import Strategy, Trial, TrialState
from hpfw.sweeper import outcome
from hpfw.sweeper.journal import started
from hpfw.sweeper.outcome import Outcome
from hpfw.sweeper.reported import pruned
from hpfw.values import one_line

log = logging.getLogger("hpfw.sweeper")

BACKENDS = {"processes": "loky", "threads": "threading"}


@dataclass(frozen=True)
class TrialHandle:
    """What an objective that takes two arguments gets besides the params.

    ``directory`` is the trial's own folder in the sweep directory, for its
    files (created on first use of ``path``). ``report`` and ``should_prune``
    are ``hpfw.report`` and ``hpfw.should_prune`` for this trial (those work
    inside the objective too, in threads and in worker processes).
    """

    id: int
    params: dict[str, Any]
    directory: Path
    job: int = -1  # the trial's launch number (its folder's name)

    def path(self, name: str) -> Path:
        """``directory / name``, with ``directory`` created."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / name

    def channel(self) -> Any:
        return channel_for(self.directory.parent, self.job, self.id)

    def report(
        self, step: int, value: float | Mapping[str, float] | Sequence[float], **metrics: float
    ) -> None:
        """Records an intermediate value at ``step`` (see ``hpfw.report``)."""
        with trial_context(self.channel()):
            report(step, value, **metrics)

    def should_prune(self) -> bool:
        """Whether the sweep's pruner says to stop now (see ``hpfw.should_prune``)."""
        return bool(self.channel().should_prune())


@dataclass(frozen=True)
class Raised:
    """A trial's exception, as text: it crosses process boundaries whatever it held."""

    message: str
    traceback: str


def takes_handle(objective: Callable[..., Any]) -> bool:
    """Whether ``objective`` accepts a second positional argument (the ``TrialHandle``)."""
    try:
        parameters = inspect.signature(objective).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: params only
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


@dataclass(frozen=True)
class Pruned:
    """The trial raised ``hpfw.TrialPruned``."""


def call(objective: Callable[..., Any], handle: TrialHandle, with_handle: bool) -> Any:
    """Runs one trial; an exception comes back as ``Raised`` rather than escaping.

    ``hpfw.report`` and ``hpfw.should_prune`` reach this trial during the call
    (a context variable: each thread, and each worker process, has its own).
    """
    try:
        params = dict(handle.params)
        with trial_context(handle.channel()):
            return objective(params, handle) if with_handle else objective(params)
    except TrialPruned:
        return Pruned()
    except Exception as error:
        return Raised(f"{type(error).__name__}: {error}", traceback.format_exc())


class FunctionTrials:
    """Runs trials as ``objective(params)`` (or ``objective(params, handle)``)."""

    def __init__(
        self,
        objective: Callable[..., Any],
        sweep_dir: Path,
        *,
        n_jobs: int = 1,
        backend: str = "processes",
        objective_key: str | None = None,
        asynchronous: bool = False,
    ) -> None:
        self.objective = objective
        self.asynchronous = asynchronous
        self.sweep_dir = sweep_dir
        self.n_jobs = n_jobs
        self.backend = BACKENDS[backend]
        self.objective_key = objective_key
        self.with_handle = takes_handle(objective)
        self.needs_values = True  # the strategy says, in prepare

    def prepare(self, strategy: Strategy, header: dict[str, Any]) -> None:
        self.needs_values = strategy.needs_values
        if strategy.max_budget is not None:
            from hpfw.sweeper.settings import SweepError

            raise SweepError(
                f"the {strategy.name} strategy gives each trial a budget, which a Python "
                "objective reads from its TrialHandle: not supported yet; use random, grid "
                "or bayes, or the Hydra sweeper"
            )

    def start(self, trial: Trial, job: int) -> dict[str, Any]:
        return started(trial.id, job, trial.params, info=trial.info)

    def run(self, trials: Sequence[Trial], records: Sequence[dict[str, Any]]) -> list[Outcome]:
        handles = [
            TrialHandle(t.id, dict(t.params), self.sweep_dir / str(r["job"]), r["job"])
            for t, r in zip(trials, records, strict=True)
        ]
        results = self._results(handles)
        return [self._outcome(h, result) for h, result in zip(handles, results, strict=True)]

    def _results(self, handles: list[TrialHandle]) -> list[Any]:
        # Asynchronous, one trial per driver thread: a thread runs it itself, or hands it
        # to the shared pool of worker processes (loky reuses one executor for all calls).
        in_worker = self.asynchronous and self.backend == "loky" and self.n_jobs > 1
        if (self.n_jobs == 1 or len(handles) == 1) and not in_worker:
            return [call(self.objective, h, self.with_handle) for h in handles]
        from joblib import Parallel, delayed

        jobs = [delayed(call)(self.objective, h, self.with_handle) for h in handles]
        try:
            width = self.n_jobs if in_worker else min(self.n_jobs, len(jobs))
            return list(Parallel(n_jobs=width, backend=self.backend)(jobs))
        except Exception as error:
            # A worker process died (joblib's TerminatedWorkerError): that loses the
            # whole batch's results, so its trials run again one at a time, each in a
            # worker (n_jobs=1 would run it in this process), and only the one that
            # kills its worker fails.
            log.warning(
                "a worker died (%s); running the batch one trial at a time", one_line(error)
            )
        results: list[Any] = []
        for handle in handles:
            try:
                results += Parallel(n_jobs=2, backend=self.backend)(
                    [delayed(call)(self.objective, handle, self.with_handle)]
                )
            except Exception as error:
                results.append(_Died(f"the worker running it died: {one_line(error)}"))
        return results

    def _outcome(self, handle: TrialHandle, result: Any) -> Outcome:
        if isinstance(result, _Died):
            return Outcome(TrialState.failed, None, {}, result.reason)
        if isinstance(result, Pruned):
            return pruned()
        if isinstance(result, Raised):
            return outcome.from_traceback(
                result.message, result.traceback, self.sweep_dir, handle.id
            )
        return outcome.from_result(
            result, self.objective_key, key_name="objective_key", needs_value=self.needs_values
        )


@dataclass(frozen=True)
class _Died:
    reason: str
