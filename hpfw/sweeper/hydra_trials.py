"""Trials as Hydra jobs: overrides per trial, launched through any Hydra launcher.

The ``TrialRunner`` behind ``hydra/sweeper=...``: each trial becomes a list of
overrides (values of keys its config groups lack are left out and recorded
as inactive; a multi-fidelity trial gets its budget and checkpoint), a batch
is one ``launcher.launch`` call, and each ``JobReturn`` becomes an
``Outcome``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf

from hpfw.pruning.api import TrialPruned
from hpfw.search import Strategy, Trial, TrialState
from hpfw.search.overrides import ParsedSweep
from hpfw.sweeper import budgets, hydra_async, outcome
from hpfw.sweeper.envelopes import envelope_override
from hpfw.sweeper.journal import started
from hpfw.sweeper.outcome import Outcome
from hpfw.sweeper.precheck import same_for_every_trial
from hpfw.sweeper.reported import pruned
from hpfw.sweeper.settings import SweepError, SweepSettings
from hpfw.values import one_line

log = logging.getLogger("hpfw.sweeper")

_ABSENT = object()


class WorkerDied(Exception):
    """The launcher lost the process (or node) running a trial, so there is no JobReturn."""


class HydraTrials:
    """Runs trials as jobs of ``launcher`` with ``sweep``'s fixed overrides."""

    def __init__(
        self,
        settings: SweepSettings,
        sweep: ParsedSweep,
        launcher: Any,
        config_loader: Any,
        config: DictConfig,
        sweep_dir: Path,
    ) -> None:
        self.settings = settings
        self.sweep = sweep
        self.launcher = launcher
        self.config_loader = config_loader
        self.config = config
        self.sweep_dir = sweep_dir
        self.max_budget: int | None = None
        self.envelope: str | None = None  # trainer.envelope=... for hpfw's trainer
        self.needs_values = True  # the strategy's, known in prepare
        # Every launched batch's JobReturns, as Hydra's basic sweeper returns them
        # from sweep() (Hydra's own tests, and code that calls Hydra's multirun, read them).
        self.returns: list[list[JobReturn]] = []
        self._composed: dict[tuple[str, ...], DictConfig | None] = {}
        self._launches: dict[int, list[str]] = {}  # trial id -> its overrides, as launched
        self._fixed_by_name = _by_name(sweep.fixed)
        # Asynchronous sweeps: how many launches may overlap, and the first-launch gate.
        self.max_concurrent = hydra_async.max_concurrent(launcher)
        self.concurrency_note = "this launcher runs each job in this process"
        self._started = settings.concurrent_trials is None  # overlapping launches start it
        self._starting = threading.Lock()
        self._retry_single = settings.concurrent_trials is not None

    # --- the config ------------------------------------------------------------------

    def composed(self, groups: tuple[str, ...] = ()) -> DictConfig | None:
        """The job config for one choice of config groups (None if it does not compose)."""
        if groups not in self._composed:
            try:
                self._composed[groups] = self.config_loader.load_sweep_config(
                    self.config, [*self.sweep.fixed, *groups]
                )
            except Exception:
                # This choice of groups does not compose: its jobs will fail the same
                # way and be recorded with Hydra's message.
                self._composed[groups] = None
        return self._composed[groups]

    def check_keys_exist(self) -> None:
        """Without swept groups every value key must exist: fail now, not in every trial."""
        if any(p.is_group for p in self.sweep.params.values()):
            return
        composed = self.composed()
        if composed is None:
            return
        for name, param in self.sweep.params.items():
            if not param.appends and _absent(composed, name):
                raise SweepError(
                    f"swept key '{name}' is not in the config; "
                    f"use '+{name}=...' to add a new key, or check the spelling"
                )

    # --- TrialRunner -----------------------------------------------------------------

    def prepare(self, strategy: Strategy, header: dict[str, Any]) -> None:
        planned = [n for n in (self.settings.n_trials, strategy.max_trials) if n is not None]
        rungs = {b for bracket in getattr(strategy, "brackets", ()) for b in bracket.budgets}
        if strategy.max_budget is not None:
            rungs.add(strategy.max_budget)
        self.envelope = envelope_override(
            self.sweep,
            self.composed,
            min(planned, default=1),
            sorted(rungs) or None,
            group=self.settings.batch_size,
        )
        if self.envelope is not None:
            log.info("structural values of this sweep, for every trial: %s", self.envelope)
        self.needs_values = strategy.needs_values
        if strategy.max_budget is None:
            return
        budgets.check_budget_keys(self.settings, self.sweep, self.composed())
        fixed = budgets.without_budget_keys(self.settings, self.sweep.fixed)
        self.sweep = dataclasses.replace(self.sweep, fixed=fixed)
        self._fixed_by_name = _by_name(fixed)
        header["fixed_overrides"] = reproducible(fixed)
        self.max_budget = strategy.max_budget

    def start(self, trial: Trial, job: int) -> dict[str, Any]:
        params = self.sweep.params
        groups = tuple(p.override(trial.params[n]) for n, p in params.items() if p.is_group)
        inactive: set[str] = set()
        values = [n for n, p in params.items() if not p.is_group and not p.appends]
        composed = self.composed(groups) if values else None
        if composed is not None:
            inactive = {
                n for n in values if OmegaConf.select(composed, n, default=_ABSENT) is _ABSENT
            }
        swept = {
            n: p.override(trial.params[n])
            for n, p in params.items()
            if p.is_group or n not in inactive
        }
        # Groups first, as before, in the journal; the launch keeps the command line's order.
        own = [swept[n] for n, p in params.items() if p.is_group and n in swept]
        own += [swept[n] for n, p in params.items() if not p.is_group and n in swept]
        extra: list[str] = []
        checkpoint = None
        if self.max_budget is not None:
            extra, checkpoint = budgets.budget_overrides(
                self.settings, trial, self.max_budget, self.sweep_dir
            )
            own += extra
        # The checkpoint stays out of the recorded overrides: best.yaml's command reruns
        # the trial from scratch, which gives the same result (the same schedule).
        launch = self._in_order(swept) + extra
        if self.envelope is not None:  # left out of the record too: a rerun pads nothing
            launch.append(self.envelope)
        if checkpoint is not None:
            launch.append(budgets.checkpoint_override(self.settings, checkpoint))
        self._launches[trial.id] = launch
        return started(
            trial.id,
            job,
            trial.params,
            info=trial.info,
            inactive=inactive,
            overrides=own,
            checkpoint=checkpoint,
        )

    def _in_order(self, swept: dict[str, str]) -> list[str]:
        """A trial's fixed and swept overrides, in the order the user gave them."""
        lines = {**self._fixed_by_name, **swept}
        ordered = [lines.pop(name) for name in self.sweep.order if name in lines]
        return ordered + list(lines.values())

    def start_runtime(self) -> None:
        """Starts the launcher's runtime (Ray) once, before launches overlap (hydra_async.py).

        The asynchronous loop calls it in the main thread; ``run`` otherwise does.
        """
        if not self._started:
            with self._starting:
                if not self._started:
                    hydra_async.start_runtime(self.launcher)
                    self._started = True

    def run(self, trials: Sequence[Trial], records: Sequence[dict[str, Any]]) -> list[Outcome]:
        launches = [self._launches.pop(t.id) for t in trials]
        self.start_runtime()
        returns = self._launch(launches, records[0]["job"])
        self.returns.append([_job_return(ret, o) for ret, o in zip(returns, launches, strict=True)])
        return [self._outcome(ret, t) for t, ret in zip(trials, returns, strict=True)]

    # --- launching ---------------------------------------------------------------------

    def _launch(self, launches: list[list[str]], first_job: int) -> list[JobReturn | WorkerDied]:
        """Launches a batch; a worker that dies fails its own trial, not the batch.

        Launchers report a killed worker (joblib's TerminatedWorkerError,
        submitit's UncompletedJobError, a lost Ray node) by raising for the
        whole batch, so the other jobs' results are lost with it. The batch is
        then launched again one job at a time: jobs that finish are kept, and a
        job whose launch raises again is recorded as failed with the reason.
        """
        try:
            return list(self.launcher.launch(launches, initial_job_idx=first_job))
        except Exception as error:
            if len(launches) == 1 and self._retry_single:
                # Asynchronous: a worker killed by another trial breaks a shared pool
                # (joblib's loky), so a lone job that failed to launch gets one more try.
                log.warning("launching job %d failed (%s); once more", first_job, one_line(error))
                try:
                    return list(self.launcher.launch(launches, initial_job_idx=first_job))
                except Exception as again:
                    error = again
            if len(launches) == 1:
                return [WorkerDied(f"the worker running it died: {one_line(error)}")]
            log.warning(
                "the launcher lost a batch of %d jobs (%s); launching them one at a time",
                len(launches),
                one_line(error),
            )
        returns: list[JobReturn | WorkerDied] = []
        for offset, overrides in enumerate(launches):
            returns += self._launch([overrides], first_job + offset)
        return returns

    def _outcome(self, ret: JobReturn | WorkerDied, trial: Trial) -> Outcome:
        if isinstance(ret, WorkerDied):
            return Outcome(TrialState.failed, None, {}, str(ret))
        if isinstance(getattr(ret, "_return_value", None), TrialPruned):
            return pruned()  # not an error: read it before return_value prints one
        try:
            result = ret.return_value  # re-raises what the job raised
        except TrialPruned:
            return pruned()
        except Exception as error:
            ended = outcome.from_error(error, self.sweep_dir, trial.id)
            if same_for_every_trial(error, self.sweep.params):
                ended.same_for_every_trial = True
                ended.error = str(error)  # the one line the sweep stops with
            return ended
        return outcome.from_result(result, self.settings.objective, needs_value=self.needs_values)


def _by_name(lines: Sequence[str]) -> dict[str, str]:
    """Override lines by the key or group they set."""
    parser = OverridesParser.create()
    return {parser.parse_override(line).key_or_group: line for line in lines}


def _job_return(ret: JobReturn | WorkerDied, overrides: list[str]) -> JobReturn:
    """A lost job as Hydra reports a failed one: a JobReturn that re-raises its error."""
    if isinstance(ret, JobReturn):
        return ret
    lost = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    lost.return_value = ret
    return lost


def _absent(config: DictConfig, key: str) -> bool:
    return OmegaConf.select(config, key, default=_ABSENT) is _ABSENT


def reproducible(fixed: Sequence[str]) -> list[str]:
    """The fixed overrides a rerun of one trial needs (Hydra's own settings left out)."""
    return [o for o in fixed if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
