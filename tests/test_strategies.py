"""Strategies: the shared contract for every registered one, then each built-in's specifics."""

from __future__ import annotations

import itertools
import math
import uuid
from typing import Any

import numpy as np
import pytest

from hpfw.errors import HpfwError
from hpfw.search import (
    Categorical,
    Float,
    Int,
    Strategy,
    Trial,
    available_strategies,
    create_strategy,
    register_strategy,
)
from hpfw.search.grid import GridStrategy
from hpfw.search.random import RandomStrategy
from hpfw.search.space import SearchSpaceError
from hpfw.testing import CONTRACT_CHECKS, contract_space
from tests.helpers import required_strategies

# Options a strategy needs to search the contract space (a grid needs points for a log Float).
OPTIONS: dict[str, dict[str, Any]] = {"grid": {"grid_points": 3}}


def factory(name: str):
    def make(space, *, direction: str = "minimize", seed: int | None = None) -> Strategy:
        return create_strategy(name, space, direction=direction, seed=seed, **OPTIONS.get(name, {}))

    return make


# Every installed strategy; on CI the plugin's tpe must be among them (not silently absent).
@pytest.mark.parametrize("name", sorted({*available_strategies(), *required_strategies(["tpe"])}))
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract(name: str, check) -> None:
    check(factory(name))


@pytest.mark.parametrize("options", [{"sobol": True}, {"shuffle": True}], ids=["sobol", "shuffle"])
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract_with_options(options: dict[str, Any], check) -> None:
    if "sobol" in options:
        check(lambda space, **kw: RandomStrategy(space, **kw, **options))
    else:
        check(lambda space, **kw: GridStrategy(space, grid_points=3, **kw, **options))


def run(strategy: Strategy, total: int, batch: int) -> list[dict[str, Any]]:
    """Asks and tells ``total`` trials in batches; returns their params in id order."""
    params = []
    while len(params) < total:
        trials = strategy.ask(min(batch, total - len(params)))
        if not trials:
            break
        for trial in trials:
            strategy.tell(trial, float(trial.id))
            params.append(trial.params)
    return params


# random


def test_random_same_seed_same_trials_any_batching() -> None:
    a = run(RandomStrategy(contract_space(), seed=7), 10, 1)
    b = run(RandomStrategy(contract_space(), seed=7), 10, 4)
    assert a == b


def test_random_different_seeds_differ() -> None:
    a = run(RandomStrategy(contract_space(), seed=0), 5, 5)
    b = run(RandomStrategy(contract_space(), seed=1), 5, 5)
    assert a != b


def test_random_without_seed_differs_between_strategies() -> None:
    space = {"x": Float(0.0, 1.0)}
    assert run(RandomStrategy(space), 3, 3) != run(RandomStrategy(space), 3, 3)


def test_sobol_points_are_spread() -> None:
    values = [
        p["x"] for p in run(RandomStrategy({"x": Float(0.0, 1.0)}, seed=0, sobol=True), 16, 5)
    ]
    bins = sorted(math.floor(v * 16) for v in values)
    assert bins == list(range(16))


def test_sobol_no_balance_warning(recwarn: pytest.WarningsRecorder) -> None:
    run(RandomStrategy(contract_space(), seed=0, sobol=True), 40, 3)
    assert not [w for w in recwarn if "balance" in str(w.message)]


def test_log_uniform_is_uniform_in_log_space() -> None:
    values = run(RandomStrategy({"lr": Float(1e-4, 1.0, log=True)}, seed=0), 2000, 2000)
    logs = np.log10([p["lr"] for p in values])
    assert abs(np.median(logs) + 2) < 0.15
    assert np.histogram(logs, bins=4, range=(-4, 0))[0].min() > 400


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomStrategy(contract_space(), seed=11),
        lambda: RandomStrategy(contract_space(), seed=11, sobol=True),
        lambda: GridStrategy(contract_space(), grid_points=3),
        lambda: GridStrategy(contract_space(), grid_points=3, seed=11, shuffle=True),
    ],
    ids=["random", "sobol", "grid", "grid-shuffle"],
)
def test_resume_by_replay_matches_uninterrupted_run(make) -> None:
    uninterrupted = run(make(), 12, 4)

    first = make()
    done: list[Trial] = []
    while len(done) < 5:
        for trial in first.ask(min(3, 5 - len(done))):
            first.tell(trial, float(trial.id))
            done.append(trial)
    resumed = make()
    for trial in done:
        resumed.tell(Trial(trial.id, dict(trial.params), state=trial.state), trial.value)
    rest = run(resumed, 7, 4)

    assert [t.params for t in done] + rest == uninterrupted


# grid


def test_grid_is_cartesian_product_in_space_order() -> None:
    space = {"a": Int(1, 3), "b": Categorical(["x", "y"]), "c": Float(0.0, 1.0)}
    strategy = GridStrategy(space, grid_points=2)
    assert strategy.size == 12
    got = [tuple(p.values()) for p in run(strategy, 100, 5)]
    assert got == list(itertools.product([1, 2, 3], ["x", "y"], [0.0, 1.0]))


def test_grid_shuffle_is_a_seeded_permutation() -> None:
    space = {"a": Int(1, 4), "b": Categorical(["x", "y", "z"])}
    ordered = run(GridStrategy(space), 100, 5)
    shuffled = run(GridStrategy(space, seed=0, shuffle=True), 100, 5)
    assert shuffled != ordered
    assert sorted(map(repr, shuffled)) == sorted(map(repr, ordered))
    assert shuffled == run(GridStrategy(space, seed=0, shuffle=True), 100, 3)


def test_grid_asks_fewer_at_the_end_then_none() -> None:
    strategy = GridStrategy({"a": Int(1, 5)})
    assert len(strategy.ask(3)) == 3
    assert len(strategy.ask(3)) == 2
    assert strategy.ask(3) == []
    assert strategy.ask(1) == []


def test_grid_float_needs_points() -> None:
    with pytest.raises(SearchSpaceError, match=r"'lr'.*grid points"):
        GridStrategy({"lr": Float(1e-4, 1e-1, log=True)})
    # A stepped Float enumerates itself.
    assert GridStrategy({"x": Float(0.0, 1.0, step=0.5)}).size == 3


@pytest.mark.parametrize("points", [0, -1, 2.5])
def test_grid_rejects_bad_points(points: Any) -> None:
    with pytest.raises(HpfwError, match="grid_points"):
        GridStrategy({"x": Float(0.0, 1.0)}, grid_points=points)


def test_grid_log_float_points_are_log_spaced() -> None:
    values = [
        p["lr"] for p in run(GridStrategy({"lr": Float(1e-4, 1.0, log=True)}, grid_points=5), 9, 9)
    ]
    assert values == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_grid_stepped_float_values_are_floats_within_bounds() -> None:
    values = [p["x"] for p in run(GridStrategy({"x": Float(0, 2, step=1)}), 9, 9)]
    assert values == [0.0, 1.0, 2.0] and all(type(v) is float for v in values)
    values = [p["x"] for p in run(GridStrategy({"x": Float(0.0, 0.3, step=0.1)}), 9, 9)]
    assert len(values) == 4 and max(values) <= 0.3


def test_range_like_int_grid() -> None:
    assert Int(1, 9, step=2).grid() == [1, 3, 5, 7, 9]
    assert GridStrategy({"n": Int(1, 9, step=2)}).size == 5


# registry


def test_unknown_strategy_lists_installed_ones() -> None:
    with pytest.raises(HpfwError, match="no-such-strategy") as info:
        create_strategy("no-such-strategy", {"x": Float(0.0, 1.0)})
    assert "grid" in str(info.value) and "random" in str(info.value)


def test_duplicate_registration_is_rejected() -> None:
    class Dummy(RandomStrategy):
        pass

    name = f"dummy-{uuid.uuid4().hex}"
    register_strategy(name, Dummy)
    assert name in available_strategies()
    with pytest.raises(ValueError, match="already registered"):
        register_strategy(name, Dummy)
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("random", Dummy)


def test_create_strategy_unknown_option() -> None:
    with pytest.raises(HpfwError, match="no_such_option"):
        create_strategy("random", {"x": Float(0.0, 1.0)}, no_such_option=1)
