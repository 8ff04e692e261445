"""Pruners: decide from reported intermediate values whether a running trial should stop.

Three, with Optuna's semantics (so a user of ``optuna.pruners`` finds what they
know): ``median`` (MedianPruner), ``asha`` (asynchronous successive halving,
Optuna's SuccessiveHalvingPruner) and ``hyperband`` (HyperbandPruner: ASHA
brackets); with several objectives they compare vectors (``vectors``). A
pruner is a pure function of the trial's curve and the other trials' curves,
so it runs in the trial's own process, from files in the sweep directory,
whichever launcher started it (``hpfw.pruning.channel``). Hand-written: Optuna's
pruners read an Optuna ``Study``, these hpfw's journal and channel files, and
hpfw does not depend on Optuna.
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hpfw.errors import HpfwError
from hpfw.pruning import vectors


class PrunerError(HpfwError):
    """A pruner setting is unknown or out of range."""


@dataclass
class Curve:
    """One trial's reported values: ``step -> value`` (NaN allowed), and its state."""

    trial: int
    values: dict[int, float]
    state: str = "running"
    rungs_passed: int = 0  # ASHA rungs this trial was already promoted past (never revisited)
    # Its other reported numbers, name -> step -> value: the other objectives' per-step values
    # when the sweep has several (``hpfw.pruning.vectors``).
    metrics: dict[str, dict[int, float]] = field(default_factory=dict)


Study = Callable[[], Sequence[Curve]]  # the other trials' curves, read when a pruner needs them


# Set from the sweep, not options: the journal header records them elsewhere.
SWEEP_FIELDS = ("direction", "seed", "objectives", "directions", "_brackets")


@dataclass
class Pruner:
    """Decides ``prune(trial, others)``; ``direction`` is the sweep's (its first objective's).

    ``objectives`` and ``directions`` name every objective of a sweep with
    several, in order; empty for one, which keeps the one-value rules unchanged.
    """

    direction: str = "minimize"
    seed: int = 0
    objectives: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    name: ClassVar[str] = ""

    @property
    def multi(self) -> bool:
        """Whether trials are compared on objective vectors (``hpfw.pruning.vectors``)."""
        return len(self.objectives) > 1

    def prune(self, trial: Curve, others: Study, completed: Study) -> bool:
        """Whether ``trial`` should stop after its last reported step.

        ``others()`` gives every other trial's curve (running ones too);
        ``completed()`` only those of completed trials.
        """
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The pruner's options, as the journal header records them."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__ if f not in SWEEP_FIELDS}

    def _better(self, a: float, b: float) -> bool:
        """``a`` at least as good as ``b`` in the sweep's direction."""
        return a <= b if self.direction == "minimize" else a >= b


@dataclass
class MedianPruner(Pruner):
    """Stops a trial whose best value so far is worse than the median of completed trials.

    The median is taken over the completed trials' values at the trial's
    current step. Nothing is pruned before ``n_startup_trials`` trials have
    completed, before step ``n_warmup_steps``, or between checks
    (``interval_steps``), or when fewer than ``n_min_trials`` completed trials
    reported that step (Optuna's MedianPruner).
    """

    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1
    name: ClassVar[str] = "median"

    def __post_init__(self) -> None:
        _check_int("n_startup_trials", self.n_startup_trials, 0)
        _check_int("n_warmup_steps", self.n_warmup_steps, 0)
        _check_int("interval_steps", self.interval_steps, 1)
        _check_int("n_min_trials", self.n_min_trials, 1)

    def prune(self, trial: Curve, others: Study, completed: Study) -> bool:
        if not trial.values:
            return False
        step = max(trial.values)
        if step < self.n_warmup_steps or not self._checks_at(step, trial.values):
            return False
        done = completed()
        if len(done) < self.n_startup_trials or not done:
            return False
        if self.multi:
            return vectors.median_prunes(self, trial, step, done)
        finite = [v for v in trial.values.values() if not math.isnan(v)]
        if not finite:
            return True  # only NaN so far: it diverged
        best = min(finite) if self.direction == "minimize" else max(finite)
        at_step = [c.values[step] for c in done if not math.isnan(c.values.get(step, math.nan))]
        if len(at_step) < self.n_min_trials:
            return False
        median = statistics.median(at_step)
        return best > median if self.direction == "minimize" else best < median

    def _checks_at(self, step: int, values: Mapping[int, float]) -> bool:
        """Optuna's rule: check at the first reported step of each interval after warm-up."""
        lower = (step - self.n_warmup_steps) // self.interval_steps * self.interval_steps
        lower += self.n_warmup_steps
        earlier = max((s for s in values if s < step), default=-1)
        return earlier < lower


@dataclass
class ASHAPruner(Pruner):
    """Asynchronous successive halving: promote as soon as a rung has enough results.

    Rung ``k`` sits at step ``min_budget * eta**(min_early_stopping_rate + k)``.
    A trial reaching a rung goes on only if its value there is among the best
    ``1/eta`` of the values every trial reported at that rung so far (at least
    the best one, so the first trials always go on: no waiting for a rung to
    fill, Li et al. 2020). With ``bootstrap_count`` a rung must first hold more
    than that many values. ``max_budget`` (optional) is the step a trial
    finishes at: no rung there or beyond.
    """

    min_budget: int = 1
    eta: int = 3
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0
    max_budget: int | None = None
    name: ClassVar[str] = "asha"

    def __post_init__(self) -> None:
        _check_int("min_budget", self.min_budget, 1)
        _check_int("eta", self.eta, 2)
        _check_int("min_early_stopping_rate", self.min_early_stopping_rate, 0)
        _check_int("bootstrap_count", self.bootstrap_count, 0)
        if self.max_budget is not None:
            _check_int("max_budget", self.max_budget, self.min_budget)

    def rung_step(self, rung: int) -> int:
        return self.min_budget * self.eta ** (self.min_early_stopping_rate + rung)

    def prune(self, trial: Curve, others: Study, completed: Study) -> bool:
        return self._prune(trial, others, lambda _: True)

    def _prune(self, trial: Curve, others: Study, peer: Callable[[Curve], bool]) -> bool:
        if not trial.values:
            return False
        if self.multi:
            return vectors.prune_rungs(self, trial, others, peer)
        step = max(trial.values)
        everyone: list[Curve] | None = None
        while True:
            rung = trial.rungs_passed
            at = self.rung_step(rung)
            if (self.max_budget is not None and at >= self.max_budget) or step < at:
                return False
            value = rung_value(trial.values, at)
            if value is None:
                return False
            if math.isnan(value):
                return True
            if everyone is None:
                everyone = [c for c in others() if c.trial != trial.trial and peer(c)]
            competing = [v for c in everyone if (v := rung_value(c.values, at)) is not None]
            competing = [v for v in competing if not math.isnan(v)] + [value]
            if len(competing) <= self.bootstrap_count or not self._promotable(value, competing):
                return True
            trial.rungs_passed += 1

    def _promotable(self, value: float, competing: list[float]) -> bool:
        """In the best ``len // eta`` (at least one) of ``competing`` (Optuna's rule)."""
        keep = max(len(competing) // self.eta, 1)
        ranked = sorted(competing, reverse=self.direction == "maximize")
        return self._better(value, ranked[keep - 1])


@dataclass
class HyperbandPruner(Pruner):
    """Hyperband over ASHA brackets: each trial joins one bracket and competes only there.

    Bracket ``b`` (of ``floor(log_eta(max_budget / min_budget)) + 1``) is ASHA
    with ``min_early_stopping_rate = b``: bracket 0 stops trials from
    ``min_budget`` on, the last lets them run to ``max_budget / eta`` before
    its one check. A trial's bracket is drawn from ``(seed, trial id)`` with
    weights that give each bracket about the same total budget (Optuna's
    HyperbandPruner; Li et al., JMLR 2018).
    """

    min_budget: int = 1
    max_budget: int | None = None
    eta: int = 3
    bootstrap_count: int = 0
    name: ClassVar[str] = "hyperband"
    _brackets: list[ASHAPruner] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_int("min_budget", self.min_budget, 1)
        _check_int("eta", self.eta, 2)
        _check_int("bootstrap_count", self.bootstrap_count, 0)
        if self.max_budget is None:
            raise PrunerError(
                "hyperband needs max_budget: the step a trial finishes at (its epochs); "
                "give it in the pruner's options"
            )
        _check_int("max_budget", self.max_budget, self.min_budget + 1)
        count = 0
        while self.max_budget >= self.min_budget * self.eta ** (count + 1):
            count += 1
        self._brackets = [
            ASHAPruner(
                direction=self.direction,
                objectives=self.objectives,
                directions=self.directions,
                min_budget=self.min_budget,
                eta=self.eta,
                min_early_stopping_rate=b,
                bootstrap_count=self.bootstrap_count,
                max_budget=self.max_budget,
            )
            for b in range(count + 1)
        ]

    def options(self) -> dict[str, Any]:
        return {k: v for k, v in super().options().items() if not k.startswith("_")}

    @property
    def n_brackets(self) -> int:
        return len(self._brackets)

    def bracket(self, trial_id: int) -> int:
        """The bracket of trial ``trial_id``: a seeded draw, weighted by each bracket's budget."""
        n = self.n_brackets
        weights = [math.ceil(n * self.eta ** (n - 1 - b) / (n - b)) for b in range(n)]
        draw = zlib.crc32(f"{self.seed}_{trial_id}".encode()) % sum(weights)
        for b, weight in enumerate(weights):
            draw -= weight
            if draw < 0:
                return b
        return n - 1

    def prune(self, trial: Curve, others: Study, completed: Study) -> bool:
        bracket = self.bracket(trial.trial)
        return self._brackets[bracket]._prune(
            trial, others, lambda c: self.bracket(c.trial) == bracket
        )


def rung_value(values: Mapping[int, float], step: int) -> float | None:
    """The value at the first reported step at or after ``step`` (None before it)."""
    reached = [s for s in values if s >= step]
    return values[min(reached)] if reached else None


PRUNERS: dict[str, type[Pruner]] = {p.name: p for p in (MedianPruner, ASHAPruner, HyperbandPruner)}


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise PrunerError(f"{name} must be an integer >= {least}, got {value!r}")


def pruner_settings(value: Any, *, max_budget: int | None = None) -> dict[str, Any] | None:
    """A ``pruner`` setting (null, a name, or ``{name: ..., option: value}``) made explicit.

    Returns ``None`` (no pruner) or the name and every option with its default,
    as the journal header records it. ``max_budget`` is asha's and
    hyperband's when the setting gives none (the Hydra sweeper passes the
    value of ``fidelity_key``, ``trainer.epochs`` for hpfw's trainer, so no
    rung sits at the last epoch, where stopping saves nothing). Raises
    ``PrunerError`` (one line) for an unknown name or option, or an option out
    of range.
    """
    if value is None or value == "none":
        return None
    if isinstance(value, str):
        name, options = value, {}
    elif isinstance(value, Mapping):
        options = {str(k): v for k, v in value.items()}
        name = options.pop("name", None)
    else:
        raise PrunerError(f"got {value!r}; allowed: null, a name, or {{name: ..., option: value}}")
    if name not in PRUNERS:
        raise PrunerError(f"got {name!r}; allowed: {', '.join(PRUNERS)} or null")
    cls = PRUNERS[name]
    allowed = [f for f in cls.__dataclass_fields__ if f not in SWEEP_FIELDS]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise PrunerError(
            f"{name} has no option {', '.join(unknown)}; its options: {', '.join(allowed)}"
        )
    if name in ("asha", "hyperband") and options.get("max_budget") is None and max_budget:
        options["max_budget"] = max_budget
    try:
        pruner = cls(**options)
    except PrunerError as error:
        raise PrunerError(f"{name}: {error}") from None
    return {"name": name, **pruner.options()}


def check_pruner(value: Any) -> None:
    """Checks a setting before the budget key is known: hyperband may still lack max_budget."""
    # Any large budget passes the range checks that do not involve it.
    pruner_settings(value, max_budget=2**31 - 1)


def make_pruner(
    settings: Mapping[str, Any],
    *,
    direction: str,
    seed: int,
    objectives: Mapping[str, str] | None = None,
) -> Pruner:
    """The pruner that ``pruner_settings`` described, for a sweep in ``direction``.

    ``objectives`` (name -> direction, in order) makes it compare objective
    vectors when there are several; with one it changes nothing.
    """
    options = {k: v for k, v in settings.items() if k != "name"}
    if objectives and len(objectives) > 1:
        options.update(objectives=tuple(objectives), directions=tuple(objectives.values()))
    return PRUNERS[settings["name"]](direction=direction, seed=seed, **options)
