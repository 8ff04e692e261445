"""The ``Strategy`` base class: ask for trials, tell their results."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from hpfw.errors import HpfwError
from hpfw.search.space import Distribution, check_space

DIRECTIONS = ("minimize", "maximize")


class TrialState(StrEnum):
    running = "running"
    complete = "complete"
    failed = "failed"  # raised, or returned something that is not a number
    diverged = "diverged"  # returned NaN or inf
    pruned = "pruned"  # stopped early by a pruner (hpfw.should_prune) or raised hpfw.TrialPruned


@dataclass
class Trial:
    """One configuration to evaluate.

    ``params`` maps every search-space name to a value. ``inactive`` names the
    parameters that did not apply to this trial (a conditional parameter whose
    key the trial's config groups lack); their values in ``params`` were never
    used.
    """

    id: int
    params: dict[str, Any]
    inactive: frozenset[str] = frozenset()
    state: TrialState = TrialState.running
    value: float | None = None
    info: dict[str, Any] = field(default_factory=dict)  # strategy-private data (rung, bracket)
    # step -> value reported with hpfw.report before the trial ended (a pruned trial's last word)
    intermediate: dict[int, float] = field(default_factory=dict)
    # With several objectives (``Strategy.directions``): every objective's value, in order
    # and each in its own direction; ``value`` is the first. With constraints: whether the
    # trial met them all, and each one's slack (> 0: violated by that much).
    values: tuple[float, ...] | None = None
    feasible: bool = True
    slacks: tuple[float, ...] = ()


class Strategy:
    """Proposes hyperparameters and learns from their results.

    Life cycle within a sweep:

    1. ``__init__(space, direction=..., seed=..., **options)`` once, when the
       sweep starts. On resume, ``tell`` is then called for every finished
       trial in the journal (trials it never asked for, with their ids) before
       anything is asked.
    2. ``ask(n)`` once per launched batch, with ``n`` the batch size (fewer at
       the end); in an asynchronous sweep (``concurrent_trials``) ``ask(1)``
       each time a trial ends, while others are still running. Return up to
       ``n`` new trials; fewer means the strategy is nearly exhausted, none
       means it is done (or, while trials are running, waits for them).
    3. ``tell(trial, value)`` once per trial of the batch, after the batch has
       run, in trial order. ``value`` is the objective, or ``None`` when the
       trial failed, diverged or was pruned (``trial.state`` says which; a
       pruned trial's ``intermediate`` holds the values it reported).

    Subclasses implement ``ask`` (using ``new_trial`` to allocate ids) and may
    extend ``tell`` (calling ``super().tell``). Values are in the user's
    direction; ``score`` turns them into "lower is better".

    On resume, trials that were running when the sweep stopped are launched
    again with their ids: ``will_rerun`` hears of them after the replay and
    before the first ``ask``, and ``tell`` gets their results later. When
    several drivers share a sweep, each one's strategy is also told the
    others' finished trials, and hears of their running ones through
    ``will_rerun``, before it is asked again.

    A strategy that proposes without looking at results (``grid``, ``random``)
    sets ``needs_values = False``: a trial whose task returned no number then
    still counts as complete, with ``value`` None, instead of failing.

    A multi-fidelity strategy (``sha``, ``hyperband``) sets ``max_budget`` and
    puts an integer ``budget`` (and a ``config`` id shared by the trials of one
    configuration) into each trial's ``info``: the sweeper then trains the trial
    for that budget and lets it continue from its configuration's checkpoint
    (see docs/early-stopping.md).
    """

    name: ClassVar[str] = ""
    # Whether the strategy learns from values. False (grid, random): a trial that
    # returned no number is complete without a value, as under Hydra's basic sweeper.
    needs_values: ClassVar[bool] = True
    max_budget: int | None = None  # set by multi-fidelity strategies: the largest budget
    # Whether the strategy handles several objectives (it reads ``trial.values``).
    multi_objective: ClassVar[bool] = False
    # Whether it compiles JAX programs of its own (bayes's GP): the sweeper then turns on
    # JAX's persistent compilation cache for them (hpfw.sweeper.compile_cache).
    compiles_programs: bool = False

    def __init__(
        self,
        space: Mapping[str, Distribution],
        *,
        direction: str = "minimize",
        seed: int | None = None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise HpfwError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        # No parameters is one point, the fixed config: a Hydra sweep with nothing
        # to sweep runs that one job, as Hydra's basic sweeper does.
        self.space = check_space(space) if not _is_empty(space) else {}
        self.direction = direction
        self.seed = seed
        self.trials: dict[int, Trial] = {}  # every trial told so far, by id
        self.directions: tuple[str, ...] = (direction,)  # every objective's, in order
        self.n_constraints = 0
        self._next_id = 0

    def ask(self, n: int) -> list[Trial]:
        raise NotImplementedError

    def tell(self, trial: Trial, value: float | None) -> None:
        if value is not None and not math.isfinite(value):
            value = None
            trial.state = TrialState.diverged
        # The sweeper sets a trial complete with no value when its task returned no
        # number and the strategy needs none; anything else without a value failed.
        unfinished = trial.state == TrialState.running
        valueless = trial.state == TrialState.complete and self.needs_values
        if value is None and (unfinished or valueless):
            trial.state = TrialState.failed
        elif value is not None:
            trial.state = TrialState.complete
        trial.value = value
        self.trials[trial.id] = trial
        self._next_id = max(self._next_id, trial.id + 1)

    def set_objectives(self, directions: Sequence[str], n_constraints: int = 0) -> None:
        """Called once before the first trial when the sweep has several objectives or
        constraints: ``trial.values`` then holds one value per direction, and
        ``trial.feasible`` / ``trial.slacks`` the constraints' verdict."""
        self.directions = tuple(directions)
        self.direction = self.directions[0]
        self.n_constraints = int(n_constraints)

    @property
    def observations(self) -> int:
        """Trials told that this sweep did not run (warm start: ids below 0)."""
        return sum(1 for trial_id in self.trials if trial_id < 0)

    def reserve_ids(self, next_id: int) -> None:
        """Makes ``new_trial`` start at ``next_id`` or later (ids taken by resumed trials)."""
        self._next_id = max(self._next_id, next_id)

    def will_rerun(self, trials: Sequence[Trial]) -> None:
        """On resume: ``trials`` were running when the sweep stopped and will run again.

        They keep their ids and are told like any other trial once they
        finish. The default keeps new ids clear of them; a strategy whose
        plan depends on what is pending (a rung waiting for its trials) also
        records them.
        """
        if trials:
            self.reserve_ids(max(t.id for t in trials) + 1)

    @property
    def max_trials(self) -> int | None:
        """The most trials this strategy will ever propose, or ``None`` when unbounded."""
        return None

    def new_trial(self, params: dict[str, Any], **info: Any) -> Trial:
        """A trial with the next free id (ids continue after replayed ones)."""
        trial = Trial(self._next_id, params, info=dict(info))
        self._next_id += 1
        return trial

    def score(self, value: float) -> float:
        """``value`` as "lower is better", whatever the direction."""
        return value if self.direction == "minimize" else -value

    @property
    def completed(self) -> list[Trial]:
        return [t for t in self.trials.values() if t.state == TrialState.complete]

    @property
    def best(self) -> Trial | None:
        done = [t for t in self.completed if t.value is not None and t.feasible]
        return min(done, key=lambda t: self.score(t.value)) if done else None


def _is_empty(space: Any) -> bool:
    return isinstance(space, Mapping) and not space
