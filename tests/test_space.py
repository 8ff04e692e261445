"""Search-space values: validation, unit-interval mapping, membership and JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from hpfw.search.space import (
    Categorical,
    Float,
    Int,
    SearchSpaceError,
    check_space,
    from_json,
    to_json,
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Float(1.0, 0.0),
        lambda: Float(0.0, 1.0, log=True),
        lambda: Float(-1.0, 1.0, log=True),
        lambda: Float(0.0, 1.0, step=0.0),
        lambda: Float(1e-3, 1.0, log=True, step=0.1),
        lambda: Float("0", 1.0),
        lambda: Int(5, 1),
        lambda: Int(0, 10, log=True),
        lambda: Int(1, 10, step=0),
        lambda: Int(1, 10, log=True, step=2),
        lambda: Int(1.5, 3),
        lambda: Int(True, 3),
        lambda: Categorical([]),
        lambda: Categorical(["a", "b", "a"]),
    ],
)
def test_invalid_values_raise(make) -> None:
    with pytest.raises(SearchSpaceError):
        make()


def test_search_space_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Float(1.0, 0.0)


def test_check_space() -> None:
    assert check_space({"x": Float(0.0, 1.0)}) == {"x": Float(0.0, 1.0)}
    for bad in ({}, [], {"x": (0, 1)}):
        with pytest.raises(SearchSpaceError):
            check_space(bad)


@pytest.mark.parametrize(
    "dist",
    [Float(-2.0, 3.0), Float(1e-5, 1e-1, log=True), Float(0.0, 1.0, step=0.25)],
    ids=repr,
)
def test_float_unit_ends_and_round_trip(dist: Float) -> None:
    assert dist.from_unit(0.0) == dist.low
    assert dist.from_unit(1.0) == dist.high
    assert dist.from_unit(-0.5) == dist.low and dist.from_unit(1.5) == dist.high
    for u in np.linspace(0, 1, 21):
        value = dist.from_unit(u)
        assert type(value) is float and dist.contains(value)
        assert dist.from_unit(dist.to_unit(value)) == pytest.approx(value, rel=1e-12)
        if dist.step is None:
            assert dist.to_unit(value) == pytest.approx(u, abs=1e-12)


def test_stepped_float_stays_on_steps() -> None:
    dist = Float(0.0, 1.0, step=0.25)
    values = {dist.from_unit(u) for u in np.linspace(0, 1, 101)}
    assert values == {0.0, 0.25, 0.5, 0.75, 1.0}


@pytest.mark.parametrize(
    "dist", [Int(1, 8), Int(-3, 3), Int(1, 9, step=2), Int(2, 64, log=True), Int(5, 5)], ids=repr
)
def test_int_unit_ends_round_trip_and_coverage(dist: Int) -> None:
    assert dist.from_unit(0.0) == dist.low
    assert dist.from_unit(1.0) == dist.high
    values = [dist.from_unit(u) for u in np.linspace(0, 1, 5001)]
    assert all(type(v) is int and dist.contains(v) for v in values)
    assert set(values) == set(dist.grid())
    for value in dist.grid():
        assert 0.0 <= dist.to_unit(value) <= 1.0
        assert dist.from_unit(dist.to_unit(value)) == value


def test_int_uniform_values_are_equally_likely() -> None:
    dist = Int(1, 4)
    counts = np.bincount([dist.from_unit(u) for u in np.random.default_rng(0).random(4000)])
    assert counts[1:].min() > 900


def test_categorical_unit_round_trip() -> None:
    dist = Categorical(["sgd", "adam", True, 1, 1.0])
    assert dist.from_unit(0.0) == "sgd" and dist.from_unit(1.0) == 1.0
    for choice in dist.choices:
        back = dist.from_unit(dist.to_unit(choice))
        assert back == choice and type(back) is type(choice)
    assert {repr(dist.from_unit(u)) for u in np.linspace(0, 1, 101)} == set(map(repr, dist.choices))


@pytest.mark.parametrize(
    ("dist", "inside", "outside"),
    [
        (Float(0.0, 1.0), [0.0, 0.5, 1, 1.0], [-0.1, 1.1, True, "0.5", None]),
        (Int(1, 9, step=2), [1, 3, 9], [2, 0, 11, 3.0, True]),
        (Categorical(["a", 1, True]), ["a", 1, True], ["b", 1.0, False, 2]),
    ],
    ids=["float", "int", "categorical"],
)
def test_contains(dist: Any, inside: list[Any], outside: list[Any]) -> None:
    assert all(dist.contains(v) for v in inside)
    assert not any(dist.contains(v) for v in outside)


def test_grids() -> None:
    assert Float(0.0, 1.0, step=0.25).grid(None) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert Float(0.0, 1.0).grid(3) == [0.0, 0.5, 1.0]
    assert Float(0.0, 1.0).grid(1) == [0.5]
    assert Float(1e-3, 1e-1, log=True).grid(3) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert Int(1, 9, step=2).grid() == [1, 3, 5, 7, 9]
    assert Categorical(["a", "b"]).grid() == ["a", "b"]
    with pytest.raises(SearchSpaceError, match="grid points"):
        Float(0.0, 1.0).grid(None)


@pytest.mark.parametrize(
    "dist",
    [
        Float(-1.0, 1.0),
        Float(1e-4, 1e-1, log=True),
        Float(0.0, 1.0, step=0.25),
        Int(1, 8),
        Int(2, 64, log=True),
        Int(1, 9, step=2),
        Categorical(["sgd", "adam"]),
        Categorical([True, 1, 2.5, "x"]),
    ],
    ids=repr,
)
def test_json_round_trip(dist: Any) -> None:
    import json

    assert from_json(json.loads(json.dumps(to_json(dist)))) == dist


def test_from_json_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown distribution"):
        from_json({"type": "normal"})


def test_float_equal_bounds() -> None:
    dist = Float(2.0, 2.0)
    assert dist.from_unit(0.3) == 2.0 and dist.to_unit(2.0) == 0.5
    assert math.isfinite(Float(1.0, 1.0, log=True).from_unit(0.7))
