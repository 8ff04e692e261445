"""fANOVA importances on synthetic functions whose variance decomposition is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpfw.search.space import Categorical, Float, Int, to_json
from hpfw.sweeper import importance

N = 300


def sweep(space: dict, f, n: int = N, seed: int = 0, **info) -> tuple[dict, list[dict]]:
    """A journal's header and ``n`` complete trials drawn uniformly from ``space``."""
    rng = np.random.default_rng(seed)
    trials = []
    for k in range(n):
        params = {name: dist.from_unit(rng.random()) for name, dist in space.items()}
        trials.append(
            {
                "id": k,
                "state": "complete",
                "value": float(f(**params)),
                "params": params,
                "inactive": [],
                "info": dict(info),
            }
        )
    header = {"direction": "minimize", "space": {n: to_json(d) for n, d in space.items()}}
    return header, trials


def test_linear_shares_are_squared_coefficients() -> None:
    # Var(a*x) = a^2/12 for x ~ U(0, 1): shares 100/109, 9/109 and 0.
    space = {"a": Float(0, 1), "b": Float(0, 1), "noise": Float(0, 1)}
    result = importance.compute(*sweep(space, lambda a, b, noise: 10 * a + 3 * b))
    assert result.names == ["a", "b", "noise"]
    assert result.main["a"] == pytest.approx(100 / 109, abs=0.04)
    assert result.main["b"] == pytest.approx(9 / 109, abs=0.03)
    assert result.main["noise"] < 0.01
    assert result.n_trials == N and result.note == ""


def test_product_has_an_interaction() -> None:
    # f = x*y on the unit square: each main effect explains 3/7, their interaction 1/7.
    space = {"x": Float(0, 1), "y": Float(0, 1)}
    result = importance.compute(*sweep(space, lambda x, y: x * y, n=400))
    assert result.main["x"] == pytest.approx(3 / 7, abs=0.05)
    assert result.main["y"] == pytest.approx(3 / 7, abs=0.05)
    (pair,) = result.pairs
    assert set(pair) == {"x", "y"}
    assert result.pairs[pair] == pytest.approx(1 / 7, abs=0.05)


def test_log_and_categorical_measures() -> None:
    # log10(lr) is uniform on [-4, -1] (variance 0.75); the choice adds 0, 0 or 3
    # with equal odds (variance 2): shares 0.75/2.75 and 2/2.75.
    space = {
        "lr": Float(1e-4, 1e-1, log=True),
        "opt": Categorical(["sgd", "adam", "adamw"]),
        "layers": Int(1, 4),
    }
    bonus = {"sgd": 0.0, "adam": 0.0, "adamw": 3.0}
    result = importance.compute(
        *sweep(space, lambda lr, opt, layers: math.log10(lr) + bonus[opt], n=400)
    )
    assert result.names[:2] == ["opt", "lr"]
    assert result.main["opt"] == pytest.approx(2 / 2.75, abs=0.05)
    assert result.main["lr"] == pytest.approx(0.75 / 2.75, abs=0.05)
    assert result.main["layers"] < 0.02
    # The forest's marginal in lr is log10(lr) plus the mean bonus of 1.
    column = result.column("lr")
    points = np.array([[0.0 + 1e-3], [0.5], [1.0]])
    curve = result.forest.marginal_at((column,), points)
    assert curve == pytest.approx([-4 + 1, -2.5 + 1, -1 + 1], abs=0.35)


def test_too_few_trials_or_nothing_swept() -> None:
    space = {"a": Float(0, 1)}
    header, trials = sweep(space, lambda a: a, n=importance.MIN_TRIALS - 1)
    assert importance.compute(header, trials) is None
    assert "at least" in importance.describe(None, trials)
    header, trials = sweep({"a": Float(0, 1), "c": Categorical(["only"])}, lambda a, c: a)
    result = importance.compute(header, trials)
    assert result.names == ["a"] and result.skipped == {"c": "a single value"}


def test_conditional_parameters_are_skipped() -> None:
    space = {"a": Float(0, 1), "momentum": Float(0, 1)}
    header, trials = sweep(space, lambda a, momentum: a)
    trials[0]["inactive"] = ["momentum"]
    result = importance.compute(header, trials)
    assert result.names == ["a"]
    assert result.skipped == {"momentum": "inactive in some trials"}


def test_multi_fidelity_uses_the_largest_budget_with_enough_trials() -> None:
    space = {"a": Float(0, 1), "b": Float(0, 1)}
    header, low = sweep(space, lambda a, b: b, n=40, budget=1)  # b matters at budget 1
    _, high = sweep(space, lambda a, b: a, n=20, seed=1, budget=9)  # a at budget 9
    _, top = sweep(space, lambda a, b: b, n=2, seed=2, budget=27)  # too few to use
    trials = [{**t, "id": k} for k, t in enumerate(low + high + top)]
    result = importance.compute(header, trials)
    assert result.names[0] == "a" and result.n_trials == 20
    assert result.note == "trials at budget 9 only"


def test_large_sweeps_are_subsampled() -> None:
    space = {"a": Float(0, 1), "b": Float(0, 1)}
    header, trials = sweep(space, lambda a, b: a + 0.1 * b, n=importance.MAX_TRIALS + 50)
    result = importance.compute(header, trials)
    assert result.n_trials == importance.MAX_TRIALS
    assert f"of {importance.MAX_TRIALS + 50} trials" in result.note
    assert importance.cached(header, trials) is importance.cached(header, trials)
