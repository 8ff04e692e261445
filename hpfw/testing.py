"""Contract checks that every ``hpfw.Strategy`` should pass.

A strategy author runs them with pytest::

    import pytest
    from hpfw.testing import CONTRACT_CHECKS

    @pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
    def test_contract(check):
        check(MyStrategy)

Each check takes a factory called as ``factory(space, direction=..., seed=...)``;
bind extra options with ``functools.partial(MyStrategy, option=...)``. The
checks use a small mixed space (stepped, log-scaled and plain numbers, ints
and categoricals) that a grid can enumerate given ``points``. A failing check
raises ``AssertionError`` with a message saying what went wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hpfw.search.space import Categorical, Distribution, Float, Int
from hpfw.search.strategy import Strategy, Trial, TrialState

StrategyFactory = Callable[..., Strategy]


def contract_space() -> dict[str, Distribution]:
    """The space the checks search (a fresh dict each time)."""
    return {
        "x": Float(-1.0, 1.0, step=0.25),
        "lr": Float(1e-4, 1e-1, log=True),
        "n": Int(1, 8),
        "k": Int(2, 64, log=True),
        "opt": Categorical(["sgd", "adam", "adamw"]),
        "flag": Categorical([True, False]),
    }


def _objective(params: dict[str, Any]) -> float:
    """A cheap objective that every parameter affects."""
    penalty = {"sgd": 0.2, "adam": 0.0, "adamw": 0.1}.get(params["opt"], 0.3)
    return (
        (params["x"] - 0.25) ** 2
        + (math.log10(params["lr"]) + 2.5) ** 2 / 10
        + abs(params["n"] - 3) / 8
        + abs(math.log2(params["k"]) - 4) / 6
        + penalty
        + (0.0 if params["flag"] else 0.05)
    )


def _ask(strategy: Strategy, n: int) -> list[Trial]:
    trials = strategy.ask(n)
    name = type(strategy).__name__
    assert isinstance(trials, list), f"{name}.ask({n}) returned {type(trials).__name__}, not a list"
    assert len(trials) <= n, f"{name}.ask({n}) returned {len(trials)} trials, more than asked"
    for trial in trials:
        assert isinstance(trial, Trial), f"{name}.ask returned {trial!r}, not a Trial"
    return trials


def _ask_exactly(strategy: Strategy, n: int) -> list[Trial]:
    trials = _ask(strategy, n)
    assert len(trials) == n, (
        f"{type(strategy).__name__}.ask({n}) returned {len(trials)} trials early in a sweep"
    )
    return trials


def _check_params(trial: Trial, space: dict[str, Distribution]) -> None:
    assert set(trial.params) == set(space), (
        f"trial {trial.id} has params {sorted(trial.params)}, expected every name in "
        f"{sorted(space)}"
    )
    for name, dist in space.items():
        value = trial.params[name]
        if isinstance(dist, Float):
            typed = isinstance(value, float)
        elif isinstance(dist, Int):
            typed = isinstance(value, int) and not isinstance(value, bool)
        else:
            typed = any(type(c) is type(value) for c in dist.choices)
        assert typed, f"trial {trial.id}: {name}={value!r} has type {type(value).__name__}"
        assert dist.contains(value), f"trial {trial.id}: {name}={value!r} is outside {dist}"


def _params(trials: list[Trial]) -> list[dict[str, Any]]:
    return [trial.params for trial in trials]


def check_values_in_bounds_and_typed(factory: StrategyFactory) -> None:
    """Every proposed value is inside its distribution and of its Python type."""
    space = contract_space()
    strategy = factory(space, direction="minimize", seed=0)
    for _ in range(4):
        for trial in _ask_exactly(strategy, 5):
            _check_params(trial, space)
            strategy.tell(trial, _objective(trial.params))


def check_reproducible_with_seed(factory: StrategyFactory) -> None:
    """Two strategies with the same seed and results propose the same trials."""
    runs = []
    for _ in range(2):
        strategy = factory(contract_space(), direction="minimize", seed=123)
        proposed = []
        for _ in range(3):
            trials = _ask_exactly(strategy, 4)
            proposed += _params(trials)
            for trial in trials:
                strategy.tell(trial, _objective(trial.params))
        runs.append(proposed)
    assert runs[0] == runs[1], "the same seed gave different trials:\n{}\n{}".format(*runs)


def check_ask_returns_n_distinct_trials(factory: StrategyFactory) -> None:
    """``ask(n)`` gives ``n`` trials whose ids are distinct and increasing."""
    strategy = factory(contract_space(), direction="minimize", seed=1)
    ids: list[int] = []
    for n in (1, 3, 1, 3):
        trials = _ask_exactly(strategy, n)
        ids += [trial.id for trial in trials]
        for trial in trials:
            strategy.tell(trial, _objective(trial.params))
    assert len(set(ids)) == len(ids), f"trial ids repeat: {ids}"
    assert ids == sorted(ids), f"trial ids are not increasing: {ids}"


def check_copes_with_failed_trials(factory: StrategyFactory) -> None:
    """Failed and diverged trials (told ``None``) do not stop the search."""
    space = contract_space()
    strategy = factory(space, direction="minimize", seed=2)
    told: list[Trial] = []
    for _ in range(3):
        for k, trial in enumerate(_ask_exactly(strategy, 4)):
            if k % 4 == 1:
                trial.state = TrialState.failed
                strategy.tell(trial, None)
            elif k % 4 == 2:
                trial.state = TrialState.diverged
                strategy.tell(trial, None)
            else:
                strategy.tell(trial, _objective(trial.params))
            told.append(trial)
    for trial in _ask_exactly(strategy, 4):
        _check_params(trial, space)
    states = [strategy.trials[t.id].state for t in told]
    assert states.count(TrialState.failed) == 3 and states.count(TrialState.diverged) == 3, (
        f"tell changed the states of failed or diverged trials: {states}"
    )
    best = strategy.best
    assert best is not None and best.state == TrialState.complete, f"best is {best!r}"


def check_resume_by_replay(factory: StrategyFactory) -> None:
    """A fresh strategy told another's finished trials continues after their ids."""
    space = contract_space()
    first = factory(space, direction="minimize", seed=3)
    finished: list[Trial] = []
    for _ in range(2):
        for k, trial in enumerate(_ask_exactly(first, 3)):
            if k == 1:
                trial.state = TrialState.failed
                first.tell(trial, None)
            else:
                first.tell(trial, _objective(trial.params))
            finished.append(trial)

    resumed = factory(contract_space(), direction="minimize", seed=3)
    for trial in finished:
        # A copy, as the journal would rebuild it: the strategy never asked for it.
        replay = Trial(
            trial.id, dict(trial.params), trial.inactive, trial.state, trial.value, dict(trial.info)
        )
        resumed.tell(replay, trial.value)
    assert set(resumed.trials) == {t.id for t in finished}, (
        f"after replay the strategy knows trials {sorted(resumed.trials)}, "
        f"expected {[t.id for t in finished]}"
    )
    last = max(t.id for t in finished)
    new = _ask_exactly(resumed, 3)
    for trial in new:
        assert trial.id > last, f"new trial id {trial.id} is not after the replayed ids (<= {last})"
        _check_params(trial, space)
    assert len({t.id for t in new}) == len(new), f"new trial ids repeat: {[t.id for t in new]}"


def check_finishes_short_sweep(factory: StrategyFactory) -> None:
    """An ask/tell loop of 12 trials in batches of 4 runs and finds a best trial."""
    strategy = factory(contract_space(), direction="minimize", seed=4)
    values: list[float] = []
    while len(values) < 12:
        trials = _ask(strategy, min(4, 12 - len(values)))
        if not trials:
            break
        for trial in trials:
            value = _objective(trial.params)
            strategy.tell(trial, value)
            values.append(value)
    assert values, "the strategy proposed no trials at all"
    best = strategy.best
    assert best is not None, "no best trial after a sweep of complete trials"
    assert best.value == min(values), f"best value {best.value} is not the lowest {min(values)}"


def check_direction(factory: StrategyFactory) -> None:
    """``direction="maximize"`` is accepted and ``best`` is the highest value."""
    strategy = factory(contract_space(), direction="maximize", seed=5)
    values: list[float] = []
    for _ in range(3):
        for trial in _ask_exactly(strategy, 4):
            value = _objective(trial.params)
            strategy.tell(trial, value)
            values.append(value)
    best = strategy.best
    assert best is not None, "no best trial after a sweep of complete trials"
    assert best.value == max(values), (
        f"maximizing, best value {best.value} is not the highest {max(values)}"
    )


CONTRACT_CHECKS: tuple[Callable[[StrategyFactory], None], ...] = (
    check_values_in_bounds_and_typed,
    check_reproducible_with_seed,
    check_ask_returns_n_distinct_trials,
    check_copes_with_failed_trials,
    check_resume_by_replay,
    check_finishes_short_sweep,
    check_direction,
)


def check_strategy(factory: StrategyFactory) -> None:
    """Runs every check in ``CONTRACT_CHECKS``."""
    for check in CONTRACT_CHECKS:
        check(factory)
