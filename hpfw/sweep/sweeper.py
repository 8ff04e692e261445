"""The sweep loop behind ``HpfwSweeper``: ask, launch, record, tell, report.

The journal (``trials.jsonl``) is the single source of truth: every trial is
appended when launched and again when it ends, by this process alone, so a
sweep can always be resumed from it and reported from it.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hpfw.errors import HpfwError
from hpfw.search import Strategy, Trial, TrialState, create_strategy
from hpfw.search.overrides import ParsedSweep, format_value, parse_sweep
from hpfw.search.space import from_json, to_json
from hpfw.sweep import report
from hpfw.sweep.journal import Journal, now_iso, sanitize, write_traceback

log = logging.getLogger("hpfw.sweep")

# hpfw's own objectives know their direction; any other app defaults to minimize.
OBJECTIVE_DIRECTIONS = {"val_accuracy": "maximize", "val_loss": "minimize", "gen_tv": "minimize"}
CHECKPOINT_DIR = "checkpoints"  # <sweep dir>/checkpoints/<config id>: one per configuration
PLOT_INTERVAL_S = 10.0  # redraw the plots at most this often while running (they cost ~0.3 s)


class SweepError(HpfwError):
    """The sweep cannot start or go on (bad settings, changed space, too many failures)."""


@dataclass
class Settings:
    strategy: str = "random"
    n_trials: int | None = 20  # None: until the strategy ends by itself (sha, hyperband)
    batch_size: int = 1
    direction: str = "auto"
    objective: str | None = None
    seed: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    max_failures: int = 10
    resume: bool = False
    # Multi-fidelity strategies only: the config keys that take a trial's budget, its
    # configuration's checkpoint directory and the schedule horizon (None: not passed).
    fidelity_key: str = "trainer.epochs"
    checkpoint_key: str | None = "trainer.checkpoint_dir"
    horizon_key: str | None = "trainer.schedule_epochs"
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_hydra(cls, raw: Mapping[str, Any]) -> Settings:
        values = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in raw.items()
            if k != "_target_"
        }
        known = {f for f in cls.__dataclass_fields__}
        options = dict(values.pop("options", None) or {})
        # Fields that only one strategy's config has (grid_points, sobol, n_initial, ...)
        # are that strategy's keyword options.
        options.update({k: values.pop(k) for k in list(values) if k not in known})
        settings = cls(**values, options=options)
        settings.params = {str(k): str(v) for k, v in (settings.params or {}).items()}
        return settings

    def validate(self) -> None:
        def bad(key: str, value: Any, allowed: str) -> SweepError:
            return SweepError(f"Invalid hydra.sweeper.{key}: got {value!r}; allowed: {allowed}")

        if self.n_trials is not None and self.n_trials < 1:
            raise bad("n_trials", self.n_trials, "an integer >= 1, or null with sha or hyperband")
        if self.batch_size < 1:
            raise bad("batch_size", self.batch_size, "an integer >= 1")
        if self.max_failures < 0:
            raise bad("max_failures", self.max_failures, "an integer >= 0")
        if self.direction not in ("auto", "minimize", "maximize"):
            raise bad("direction", self.direction, "minimize, maximize or auto")


def _program() -> str:
    """How to start this app again, for the reproduce command in best.yaml."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "__main__.py":
        return f"python -m {argv0.parent.name}"
    if argv0.suffix == ".py":
        return f"python {sys.argv[0]}"
    return argv0.name


class WorkerDied(Exception):
    """The launcher lost the process (or node) running a trial, so there is no JobReturn."""


@dataclass
class Outcome:
    state: TrialState
    value: float | None
    metrics: dict[str, Any]
    error: str | None = None
    traceback: str | None = None


class SweepRunner:
    """Runs one sweep: ``setup`` once, then ``sweep(arguments)``."""

    def __init__(self, raw_settings: Mapping[str, Any]) -> None:
        self.settings = Settings.from_hydra(raw_settings)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self._composed: dict[tuple[str, ...], DictConfig] = {}

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # --- the search space ----------------------------------------------------

    def _group_options(self, name: str) -> list[str]:
        return list(self.hydra_context.config_loader.get_group_options(name))

    def _direction(self) -> str:
        if self.settings.direction != "auto":
            return self.settings.direction
        objective = self.config.get("objective") if self.config is not None else None
        return OBJECTIVE_DIRECTIONS.get(str(getattr(objective, "value", objective)), "minimize")

    def _composed_for(self, groups: tuple[str, ...], fixed: list[str]) -> DictConfig:
        """The job config for one choice of config groups, composed once and cached."""
        if groups not in self._composed:
            self._composed[groups] = self.hydra_context.config_loader.load_sweep_config(
                self.config, [*fixed, *groups]
            )
        return self._composed[groups]

    def _overrides_for(self, trial: Trial, sweep: ParsedSweep) -> tuple[list[str], frozenset[str]]:
        """The trial's overrides, leaving out values whose key its config groups lack."""
        params = sweep.params
        groups = tuple(p.override(trial.params[n]) for n, p in params.items() if p.is_group)
        values = {n: p for n, p in params.items() if not p.is_group and not p.appends}
        inactive: set[str] = set()
        if values:
            try:
                composed = self._composed_for(groups, sweep.fixed)
            except Exception:
                # This choice of groups does not compose: the job will fail the same
                # way and be recorded with Hydra's message, so launch it unchanged.
                composed = None
            if composed is not None:
                inactive = {
                    n for n in values if OmegaConf.select(composed, n, default=_ABSENT) is _ABSENT
                }
        overrides = [*sweep.fixed, *groups]
        overrides += [
            p.override(trial.params[n])
            for n, p in params.items()
            if not p.is_group and n not in inactive
        ]
        return overrides, frozenset(inactive)

    def _check_keys_exist(self, sweep: ParsedSweep) -> None:
        """Without swept groups every value key must exist: fail now, not in every trial."""
        if any(p.is_group for p in sweep.params.values()):
            return
        composed = self._composed_for((), sweep.fixed)
        for name, param in sweep.params.items():
            absent = OmegaConf.select(composed, name, default=_ABSENT) is _ABSENT
            if not param.appends and absent:
                raise SweepError(
                    f"swept key '{name}' is not in the config; "
                    f"use '+{name}=...' to add a new key, or check the spelling"
                )

    # --- budgets (multi-fidelity strategies) ----------------------------------------

    def _budget_keys(self) -> list[tuple[str, str]]:
        s = self.settings
        keys = [("fidelity_key", s.fidelity_key)]
        keys += [
            (k, v)
            for k, v in (("checkpoint_key", s.checkpoint_key), ("horizon_key", s.horizon_key))
            if v
        ]
        return keys

    def _check_budget_keys(self, sweep: ParsedSweep) -> None:
        """The keys a multi-fidelity sweep sets must exist and must not be swept."""
        for setting, key in self._budget_keys():
            if key in sweep.params:
                raise SweepError(
                    f"'{key}' is hydra.sweeper.{setting}, set by the strategy for each trial; "
                    "do not sweep it"
                )
        try:
            composed = self._composed_for((), sweep.fixed)
        except Exception:
            return  # the default groups do not compose: each trial will report why
        for setting, key in self._budget_keys():
            if OmegaConf.select(composed, key, default=_ABSENT) is _ABSENT:
                hint = "" if setting == "fidelity_key" else ", or null if your app has none"
                raise SweepError(
                    f"hydra.sweeper.{setting}: '{key}' is not in the config; "
                    f"name your app's key{hint}"
                )

    def _budget_overrides(
        self, trial: Trial, strategy: Strategy, sweep_dir: Path
    ) -> tuple[list[str], str | None]:
        """A multi-fidelity trial's budget and horizon overrides, and its checkpoint directory."""
        s = self.settings
        budget = trial.info.get("budget")
        if strategy.max_budget is None or not isinstance(budget, int):
            return [], None
        overrides = [f"{s.fidelity_key}={budget}"]
        if s.horizon_key:
            overrides.append(f"{s.horizon_key}={strategy.max_budget}")
        checkpoint = None
        if s.checkpoint_key and trial.info.get("config") is not None:
            # Absolute: a job may run in another working directory (hydra.job.chdir).
            checkpoint = str(sweep_dir.resolve() / CHECKPOINT_DIR / str(trial.info["config"]))
        return overrides, checkpoint

    def _without_budget_keys(self, fixed: list[str]) -> list[str]:
        """Fixed overrides minus those of the keys the strategy sets per trial."""
        keys = {key for _, key in self._budget_keys()}
        return [o for o in fixed if o.split("=", 1)[0].lstrip("+~") not in keys]

    # --- results ---------------------------------------------------------------

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
            if len(launches) == 1:
                return [WorkerDied(f"the worker running it died: {_one_line(error)}")]
            log.warning(
                "the launcher lost a batch of %d jobs (%s); launching them one at a time",
                len(launches),
                _one_line(error),
            )
        returns: list[JobReturn | WorkerDied] = []
        for offset, overrides in enumerate(launches):
            returns += self._launch([overrides], first_job + offset)
        return returns

    def _outcome(self, ret: JobReturn | WorkerDied, trial: Trial, sweep_dir: Path) -> Outcome:
        if isinstance(ret, WorkerDied):
            return Outcome(TrialState.failed, None, {}, str(ret))
        try:
            result = ret.return_value  # re-raises what the job raised
        except Exception as error:
            text = "".join(traceback.format_exception(error))
            path = write_traceback(sweep_dir, trial.id, text)
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            return Outcome(TrialState.failed, None, {}, message, path)
        metrics: dict[str, Any] = {}
        if isinstance(result, Mapping):
            metrics = {
                str(k): float(v)
                for k, v in result.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            key = self.settings.objective or "objective"
            if key not in result:
                raise SweepError(
                    f"the job returned a mapping without the objective key '{key}' "
                    f"(keys: {', '.join(map(str, result))}); set hydra.sweeper.objective"
                )
            result = result[key]
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            return Outcome(
                TrialState.failed,
                None,
                metrics,
                f"the job returned {result!r} ({type(result).__name__}), not a number",
            )
        value = float(result)
        if not math.isfinite(value):
            return Outcome(TrialState.diverged, None, metrics, f"the objective is {value}")
        return Outcome(TrialState.complete, value, metrics)

    # --- the loop ----------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> None:
        s = self.settings
        s.validate()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        sweep = parse_sweep(arguments, params=s.params, group_options=self._group_options)
        if not sweep.params:
            raise SweepError(
                "nothing to sweep: give at least one sweep override "
                "(e.g. 'optimizer.lr=tag(log,interval(1e-4,1e-1))') or hydra.sweeper.params"
            )
        self._check_keys_exist(sweep)
        space = {name: p.dist for name, p in sweep.params.items()}
        direction = self._direction()
        journal = Journal(sweep_dir)
        header, records = self._open_journal(journal, sweep, direction)
        strategy = create_strategy(
            s.strategy, space, direction=direction, seed=header["seed"], **s.options
        )
        total = self._total(strategy)
        if strategy.max_budget is not None:
            self._check_budget_keys(sweep)
            sweep = ParsedSweep(sweep.params, self._without_budget_keys(sweep.fixed))
            header["fixed_overrides"] = _reproducible(sweep.fixed)
        if not journal.exists():  # only once the strategy accepted its settings
            journal.write_header(header)
        rerun = self._replay(strategy, records)

        finished = {r["id"] for r in records if r["state"] != TrialState.running}
        failures = sum(r["state"] in (TrialState.failed, TrialState.diverged) for r in records)
        next_job = max((r["job"] for r in records), default=-1) + 1
        by_id = {r["id"]: r for r in records}
        started, last_plot = time.monotonic(), 0.0
        done_at_start = len(finished)
        log.info(
            "hpfw sweep: %s, %d trials in batches of %d, %s %s -> %s",
            s.strategy,
            total,
            s.batch_size,
            direction,
            s.objective or "objective",
            sweep_dir,
        )
        if done_at_start:
            log.info("resuming: %d trials done, %d to run again", done_at_start, len(rerun))
        try:
            while len(finished) < total:
                want = min(s.batch_size, total - len(finished))
                batch, rerun = rerun[:want], rerun[want:]
                if len(batch) < want:
                    batch += strategy.ask(want - len(batch))
                if not batch:
                    log.info("the %s strategy has no more trials to propose", s.strategy)
                    break
                launches = []
                for trial in batch:
                    overrides, trial.inactive = self._overrides_for(trial, sweep)
                    budget_overrides, checkpoint = self._budget_overrides(
                        trial, strategy, sweep_dir
                    )
                    overrides += budget_overrides
                    record = {
                        "type": "trial",
                        "id": trial.id,
                        "job": next_job + len(launches),
                        "params": trial.params,
                        "inactive": sorted(trial.inactive),
                        "overrides": overrides[len(sweep.fixed) :],
                        "state": TrialState.running.value,
                        "value": None,
                        "metrics": {},
                        "start": now_iso(),
                        "end": None,
                        "error": None,
                        "traceback": None,
                        "info": trial.info,
                    }
                    if checkpoint is not None:
                        # Kept out of "overrides": best.yaml's command reruns the trial
                        # from scratch, which gives the same result (the same schedule).
                        record["checkpoint"] = checkpoint
                        overrides = [
                            *overrides,
                            f"{s.checkpoint_key}={format_value(checkpoint)}",
                        ]
                    by_id[trial.id] = record
                    launches.append(overrides)
                journal.append_many([by_id[t.id] for t in batch])
                returns = self._launch(launches, next_job)
                next_job += len(launches)
                fatal: SweepError | None = None
                told: list[tuple[Trial, float | None]] = []
                for trial, ret in zip(batch, returns, strict=True):
                    try:
                        outcome = self._outcome(ret, trial, sweep_dir)
                    except SweepError as error:
                        fatal = fatal or error
                        outcome = Outcome(TrialState.failed, None, {}, str(error))
                    trial.state = outcome.state
                    record = {
                        **by_id[trial.id],
                        "state": outcome.state.value,
                        "value": outcome.value,
                        "metrics": outcome.metrics,
                        "end": now_iso(),
                        "error": outcome.error,
                        "traceback": outcome.traceback,
                    }
                    by_id[trial.id] = record
                    told.append((trial, outcome.value))
                    finished.add(trial.id)
                    if outcome.state != TrialState.complete:
                        failures += 1
                        log.warning("trial %d %s: %s", trial.id, outcome.state, outcome.error)
                # The batch's results reach the journal before the strategy hears them.
                journal.append_many([by_id[t.id] for t, _ in told])
                for trial, value in told:
                    strategy.tell(trial, value)
                if fatal is not None:
                    raise fatal
                plots = time.monotonic() - last_plot > PLOT_INTERVAL_S
                self._report(sweep_dir, header, by_id, plots=plots)
                last_plot = time.monotonic() if plots else last_plot
                self._progress(total, strategy, len(finished), failures, started, done_at_start)
                if failures > s.max_failures:
                    raise SweepError(
                        f"stopping: {failures} trials failed or diverged, more than "
                        f"hydra.sweeper.max_failures={s.max_failures}; see {journal.path}"
                    )
        finally:
            if by_id:
                self._report(sweep_dir, header, by_id, plots=True)
        report.print_summary(header, [by_id[k] for k in sorted(by_id)])

    def _open_journal(
        self, journal: Journal, sweep: ParsedSweep, direction: str
    ) -> tuple[dict, list[dict]]:
        """The header and records to resume from, or a new header (written by the caller)."""
        s = self.settings
        space_json = {name: to_json(p.dist) for name, p in sweep.params.items()}
        groups = sorted(name for name, p in sweep.params.items() if p.is_group)
        if s.resume:
            if not journal.exists():
                raise SweepError(
                    f"hydra.sweeper.resume=true but there is no journal at {journal.path}; "
                    "set hydra.sweep.dir to the directory of the sweep to resume"
                )
            journal.repair()
            header, records = journal.read()
            old = {name: to_json(from_json(d)) for name, d in header["space"].items()}
            if old != space_json or sorted(header.get("groups", [])) != groups:
                raise SweepError(
                    f"cannot resume {journal.path}: the search space changed "
                    f"(journal: {sorted(old)}, now: {sorted(space_json)}); "
                    "resume with the same sweep overrides, or start a new hydra.sweep.dir"
                )
            if header["direction"] != direction:
                raise SweepError(
                    f"cannot resume {journal.path}: direction changed "
                    f"from {header['direction']} to {direction}"
                )
            # A strategy rebuilds its state from the journal under its options (a bracket
            # plan, for sha and hyperband): other options would misread it.
            options = sanitize(s.options)
            if "options" in header and header["options"] != options:
                raise SweepError(
                    f"cannot resume {journal.path}: the strategy's options changed "
                    f"(journal: {header['options']}, now: {options}); resume with the same "
                    "hydra.sweeper settings"
                )
            return header, records
        if journal.exists():
            raise SweepError(
                f"{journal.path} already holds a sweep; add hydra.sweeper.resume=true to "
                "continue it, or choose another hydra.sweep.dir"
            )
        seed = s.seed
        if seed is None:
            import secrets

            seed = secrets.randbits(31)
        header = {
            "type": "sweep",
            "version": 1,
            "strategy": s.strategy,
            "direction": direction,
            "objective": s.objective,
            "seed": seed,
            "n_trials": s.n_trials,
            "batch_size": s.batch_size,
            "space": space_json,
            "groups": groups,
            "options": sanitize(s.options),
            "fixed_overrides": _reproducible(sweep.fixed),
            "command": _program(),
            "created": now_iso(),
        }
        return header, []

    @staticmethod
    def _replay(strategy: Strategy, records: Sequence[dict]) -> list[Trial]:
        """Tells the strategy every finished trial; returns those to run again."""
        rerun = []
        for record in records:
            trial = Trial(
                record["id"],
                dict(record["params"]),
                frozenset(record.get("inactive", [])),
                TrialState(record["state"]),
                info=dict(record.get("info") or {}),
            )
            if trial.state == TrialState.running:
                rerun.append(trial)
            else:
                strategy.tell(trial, record["value"])
        strategy.will_rerun(rerun)
        return rerun

    def _total(self, strategy: Strategy) -> int:
        """Trials to run: n_trials, or fewer when the strategy plans fewer."""
        planned, cap = strategy.max_trials, self.settings.n_trials
        if cap is None and planned is None:
            raise SweepError(
                f"Invalid hydra.sweeper.n_trials: got None; the {self.settings.strategy} "
                "strategy does not end by itself, so give an integer >= 1"
            )
        return min(x for x in (cap, planned) if x is not None)

    @staticmethod
    def _report(sweep_dir: Path, header: dict, by_id: dict[int, dict], *, plots: bool) -> None:
        report.write_reports(sweep_dir, header, [by_id[k] for k in sorted(by_id)], plots=plots)

    def _progress(
        self,
        n: int,
        strategy: Strategy,
        done: int,
        failures: int,
        started: float,
        done_at_start: int,
    ) -> None:
        elapsed = time.monotonic() - started
        ran = done - done_at_start
        left = elapsed / ran * (n - done) if ran else float("nan")
        best = strategy.best
        best_text = f"best {best.value:.6g} (trial {best.id})" if best else "no result yet"
        log.info(
            "[%d/%d] %s | %d failed | %s elapsed, ~%s left",
            done,
            n,
            best_text,
            failures,
            _clock(elapsed),
            _clock(left),
        )


_ABSENT = object()


def _reproducible(fixed: list[str]) -> list[str]:
    """The fixed overrides a rerun of one trial needs (Hydra's own settings left out)."""
    return [o for o in fixed if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
