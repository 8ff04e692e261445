"""A sweep's settings: one definition for the Hydra sweeper (``hydra.sweeper.*``) and Python.

``SweepSettings`` holds what every sweep has; whatever else the sweeper's
config carries is the strategy's own options (``n_initial`` for bayes,
``max_budget`` for sha, ...), declared in the strategy's YAML file (see
docs/writing-a-strategy.md) and passed to it as keyword arguments.

This module imports nothing heavy: the Hydra plugin builds its config
dataclasses from ``SweepSettings`` at every Hydra start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from hpfw.errors import HpfwError
from hpfw.sweeper.compile_cache import default_directory
from hpfw.values import plain

DIRECTIONS = ("minimize", "maximize")


class SweepError(HpfwError, ValueError):
    """The sweep cannot start or go on (bad settings, changed space, too many failures)."""


@dataclass(frozen=True)
class Names:
    """How messages name the settings: Hydra's keys, or the Python API's arguments."""

    prefix: str  # put before a setting's name
    directory: str  # the sweep directory's name

    def __call__(self, setting: str) -> str:
        return f"{self.prefix}{setting}"


HYDRA_NAMES = Names("hydra.sweeper.", "hydra.sweep.dir")
PYTHON_NAMES = Names("", "directory")


# OmegaConf reads these annotations when the Hydra plugin stores the dataclass (and a
# subclass per strategy) as a structured config: keep them to types OmegaConf knows.
@dataclass
class SweepSettings:
    """Settings every sweep has, whatever its strategy."""

    strategy: str = "random"  # any name in hpfw.available_strategies()
    n_trials: int | None = 20  # trials in total, resumed ones included; null: until it ends
    batch_size: int = 1  # trials per launched batch (parallel launchers run a batch at once)
    # Settings an app may default (hpfw.sweeper.app_defaults); null: the app's choice.
    # minimize or maximize; null: the app's (hpfw: its objective's direction), else minimize.
    direction: str | None = None
    # The key to use when a job returns a mapping; null: the app's (hpfw: its configured
    # objective metric), else "objective".
    objective: str | None = None
    # Among trials tied on the objective, the best has the better value of this metric (a
    # key of the mapping a job returns); null: the app's (hpfw: val_loss for val_accuracy),
    # else the first by id. Its direction is tie_breaker_direction, or (null) from its name.
    tie_breaker: str | None = None
    tie_breaker_direction: str | None = None  # the tie-breaker's; null: from its name
    # Several objectives: metric -> minimize|maximize, e.g. {val_accuracy: maximize,
    # params: minimize}; the first is the sweep's objective. {}: objective and direction.
    objectives: Any = None  # Any: an override replaces the mapping (no + needed)
    # Conditions on returned metrics, e.g. ["train_seconds <= 30", "params <= 1e5"]; only
    # trials meeting all of them rank, make the Pareto front or are best.
    constraints: Any = None  # a list of strings, or one
    # Parameter mappings to run first ({optimizer.lr: 0.01, ...}); the strategy then
    # carries on with their results as observations.
    enqueue: Any = None  # a list of mappings
    # Directories of earlier sweeps (one, or a list) whose completed trials the strategy
    # learns from before its first trial; trials the space cannot hold are dropped.
    warm_start: Any = None
    seed: int | None = None  # null: a fresh seed per sweep, recorded in the journal
    params: dict[str, str] = field(default_factory=dict)  # key -> sweep override value
    max_failures: int = 10  # failed or diverged trials tolerated before the sweep stops
    resume: bool = False  # continue the journal in hydra.sweep.dir
    # null: batch-synchronous (a batch launches when the last one has ended); N: asynchronous,
    # N trials kept running, the next asked for as soon as one ends (docs/pruning.md)
    concurrent_trials: int | None = None
    # null, median, asha or hyperband, or {name: asha, eta: 3, ...}: stops poor trials early
    # from the values they report (hpfw.report; hpfw's trainer reports every epoch)
    pruner: Any = None
    # Multi-fidelity strategies (sha, hyperband) only: the config keys that take a trial's
    # budget, its configuration's checkpoint directory and the schedule horizon (null: none).
    fidelity_key: str = "trainer.epochs"  # sha, hyperband: the key a trial's budget sets
    checkpoint_key: str | None = "trainer.checkpoint_dir"  # sha, hyperband: state kept here
    horizon_key: str | None = "trainer.schedule_epochs"  # sha, hyperband: schedule's horizon
    # group -> options that `group=glob(...)` leaves out: a list, or option -> why. The app's
    # (hpfw: another task's models and data) apply to the groups not named here; an empty
    # list keeps a group whole. Explicit lists (`model=mlp,cnn`) are never filtered.
    glob_exclude: dict[str, Any] = field(default_factory=dict)  # group -> options glob skips
    # JAX's persistent compilation cache for the strategy's own programs (bayes's GP), turned
    # on in the sweeper's process unless JAX already has a cache directory; "" leaves it off.
    # null: the app's (hpfw: trainer.compilation_cache_dir), else $HPFW_CACHE_DIR or
    # ~/.cache/hpfw/jax.
    compilation_cache_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # more keyword options of the strategy
    # Not a field (a ClassVar): the Python API sets PYTHON_NAMES on its instances.
    names: ClassVar[Names] = HYDRA_NAMES

    @classmethod
    def keys(cls) -> frozenset[str]:
        """The settings' names (every key that is not a strategy option)."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> SweepSettings:
        """Settings from the sweeper's config; keys that are not settings become options.

        An option whose value is null is left out, so the strategy's own default
        applies (a YAML file documents such options with ``null``).
        """
        from omegaconf import OmegaConf

        values = {
            str(k): OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in raw.items()
            if k != "_target_"
        }
        known = cls.keys()
        options = dict(values.pop("options", None) or {})
        options.update({k: values.pop(k) for k in list(values) if k not in known})
        settings = cls(**values, options={k: v for k, v in options.items() if v is not None})
        settings.params = {str(k): str(v) for k, v in (settings.params or {}).items()}
        return settings

    def resolve(self, app: Mapping[str, Any] | None = None) -> SweepSettings:
        """Fills the settings left null from the app's defaults, then hpfw's; validates.

        ``app`` is what ``hpfw.sweeper.app_defaults.app_defaults`` returns.
        """
        app = dict(app or {})
        # Per group, a user's exclusions replace the app's.
        self.glob_exclude = {
            **exclusions(app.pop("glob_exclude", {})),
            **exclusions(self.glob_exclude),
        }
        if self.objectives:  # several objectives: the first is the sweep's objective
            self._take_objectives()
        for key, value in app.items():
            if getattr(self, key) is None and value is not None:
                setattr(self, key, value)
        self.direction = self.direction or "minimize"
        if self.compilation_cache_dir is None:
            self.compilation_cache_dir = default_directory()
        # The objective may arrive as an enum member through an interpolation.
        if self.objective is not None:
            self.objective = str(plain(self.objective))
        self.validate()
        return self

    def validate(self) -> None:
        """One-line errors naming the setting and what is allowed."""

        def _bad(key: str, value: Any, allowed: str) -> SweepError:
            return SweepError(f"Invalid {self.names(key)}: got {value!r}; allowed: {allowed}")

        if self.n_trials is not None and not (_is_int(self.n_trials) and self.n_trials >= 1):
            raise _bad("n_trials", self.n_trials, "an integer >= 1, or null with sha or hyperband")
        if not (_is_int(self.batch_size) and self.batch_size >= 1):
            raise _bad("batch_size", self.batch_size, "an integer >= 1")
        if not (_is_int(self.max_failures) and self.max_failures >= 0):
            raise _bad("max_failures", self.max_failures, "an integer >= 0")
        if self.direction not in DIRECTIONS:
            raise _bad("direction", self.direction, " or ".join(DIRECTIONS))
        if self.seed is not None and not (_is_int(self.seed) and self.seed >= 0):
            raise _bad("seed", self.seed, "null or an integer >= 0")
        if not isinstance(self.compilation_cache_dir, str):
            raise _bad(
                "compilation_cache_dir", self.compilation_cache_dir, 'a directory, or "" for none'
            )
        if self.concurrent_trials is not None and not (
            _is_int(self.concurrent_trials) and self.concurrent_trials >= 1
        ):
            raise _bad("concurrent_trials", self.concurrent_trials, "null or an integer >= 1")
        if self.pruner is not None:
            from hpfw.pruning.pruners import PrunerError, check_pruner

            try:
                check_pruner(self.pruner)
            except PrunerError as error:
                raise SweepError(f"Invalid {self.names('pruner')}: {error}") from None
        if self.tie_breaker is not None and not (
            isinstance(self.tie_breaker, str) and self.tie_breaker
        ):
            raise _bad("tie_breaker", self.tie_breaker, "null or the name of a returned metric")
        if self.tie_breaker_direction not in (None, *DIRECTIONS):
            raise _bad(
                "tie_breaker_direction",
                self.tie_breaker_direction,
                "null, " + " or ".join(DIRECTIONS),
            )
        self.check_known()

    def _take_objectives(self) -> None:
        from hpfw.sweeper.objectives import check_objectives

        self.objectives = check_objectives(self.objectives, self.names)
        first, direction = next(iter(self.objectives.items()))
        for key, ours in (("objective", first), ("direction", direction)):
            given = getattr(self, key)
            if given is not None and str(plain(given)) != ours:
                raise SweepError(
                    f"Invalid {self.names(key)}: got {given!r}, but {self.names('objectives')} "
                    f"starts with {first}: {direction}; set one of the two"
                )
        self.objective, self.direction = first, direction

    def check_known(self) -> None:
        """The settings of several objectives, constraints, enqueue and warm_start."""
        from hpfw.sweeper.objectives import check_constraints, check_objectives

        if self.objectives:
            check_objectives(self.objectives, self.names)
        check_constraints(self.constraints, self.names)
        enqueue = [] if self.enqueue is None else self.enqueue
        if not isinstance(enqueue, (list, tuple)) or not all(
            isinstance(p, Mapping) for p in enqueue
        ):
            raise SweepError(
                f"Invalid {self.names('enqueue')}: got {self.enqueue!r}; allowed: a list of "
                "parameter mappings, e.g. [{optimizer.lr: 0.01}]"
            )
        starts = [self.warm_start] if isinstance(self.warm_start, str) else self.warm_start
        if starts is not None and not (
            isinstance(starts, (list, tuple)) and all(isinstance(d, str) for d in starts)
        ):
            raise SweepError(
                f"Invalid {self.names('warm_start')}: got {self.warm_start!r}; allowed: a sweep "
                "directory or a list of them"
            )

    def create_strategy(self, space: Mapping[str, Any], seed: int | None) -> Any:
        """The strategy these settings name; a bad option's error names it as the user set it.

        A strategy names its options bare (``best_by must be one of ...``): from
        Hydra the key is ``hydra.sweeper.best_by``.
        """
        from hpfw.search.registry import create_strategy  # the registry: only when sweeping

        try:
            return create_strategy(
                self.strategy, space, direction=self.direction, seed=seed, **self.options
            )
        except HpfwError as error:
            key = next((k for k in self.options if str(error).startswith(f"{k} ")), None)
            if key is None or isinstance(error, SweepError):
                raise
            raise SweepError(self.names(str(error))) from None

    def tie_direction(self) -> str | None:
        """The tie-breaker's direction: as set, else from its name; ``None`` without one."""
        if self.tie_breaker is None:
            return None
        if self.tie_breaker_direction is not None:
            return self.tie_breaker_direction
        from hpfw.config import metric_direction  # not at import: the plugin loads this module

        return metric_direction(self.tie_breaker)


def exclusions(raw: Any) -> dict[str, dict[str, str]]:
    """``hydra.sweeper.glob_exclude`` as group -> option -> reason ("" when none is given)."""

    def bad(key: str, value: Any, allowed: str) -> SweepError:
        return SweepError(f"Invalid {HYDRA_NAMES(key)}: got {value!r}; allowed: {allowed}")

    if not isinstance(raw, Mapping):
        raise bad("glob_exclude", raw, "a mapping of group -> [option, ...] or {option: why}")
    found: dict[str, dict[str, str]] = {}
    for group, options in raw.items():
        if isinstance(options, Mapping):
            found[str(group)] = {str(k): "" if v is None else str(v) for k, v in options.items()}
        elif isinstance(options, (list, tuple)):
            found[str(group)] = {str(option): "" for option in options}
        else:
            raise bad(f"glob_exclude.{group}", options, "a list of options or {option: why}")
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
