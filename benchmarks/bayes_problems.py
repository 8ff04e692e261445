"""Test problems with known optima for ``bench_bayes.py``: smooth, multimodal, mixed, high-D.

Each ``Problem`` has an hpfw search space, the true (noise-free) objective ``f``
and its optimum. Rotations and shifts are fixed by the problem's own seed, so
every run and every method sees the same function. A problem with ``noise > 0``
is observed with Gaussian noise of that standard deviation; benchmarks score
the *true* value of the trial a method picks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpfw.search import Categorical, Float, Int


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, Any]
    f: Callable[[dict[str, Any]], float]
    optimum: float
    noise: float = 0.0  # standard deviation of Gaussian observation noise


def _vector(p: dict[str, Any], d: int) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(d)], dtype=float)


def _box(d: int, low: float, high: float) -> dict[str, Any]:
    return {f"x{i}": Float(low, high) for i in range(d)}


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _shift(d: int, seed: int, bound: float) -> np.ndarray:
    return np.random.default_rng(seed + 1000).uniform(-bound, bound, d)


# --- the smooth and multimodal classics -----------------------------------------


def branin_xy(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN_MIN = 0.397887357729738

_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
H6_MIN = -3.322368011391339


def hartmann6_x(x: np.ndarray) -> float:
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley_x(x: np.ndarray) -> float:
    d = len(x)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d))
        - np.exp(np.sum(np.cos(2 * np.pi * x)) / d)
        + 20
        + math.e
    )


def levy_x(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    head = np.sin(np.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def rosenbrock_x(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def styblinski_tang_x(x: np.ndarray) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


ST_MIN_1D = -39.16616570377142  # per dimension, at x = -2.903534


def _rastrigin(d: int) -> Callable[[dict[str, Any]], float]:
    """Rastrigin on a rotated, shifted copy of x: not separable, optimum off-centre."""
    rot, shift = _rotation(d, 1), _shift(d, 1, 3.0)

    def f(p: dict[str, Any]) -> float:
        z = rot @ (_vector(p, d) - shift)
        return float(10 * d + np.sum(z**2 - 10 * np.cos(2 * np.pi * z)))

    return f


def _schaffer(d: int) -> Callable[[dict[str, Any]], float]:
    """Schaffer's F7 (BBOB f17 without its asymmetry): rings of local minima, shifted."""
    shift = _shift(d, 2, 3.0)

    def f(p: dict[str, Any]) -> float:
        z = _vector(p, d) - shift
        s = np.sqrt(z[:-1] ** 2 + z[1:] ** 2)
        return float((np.mean(np.sqrt(s) * (1 + np.sin(50 * s**0.2) ** 2))) ** 2)

    return f


def _ellipsoid(d: int) -> Callable[[dict[str, Any]], float]:
    """A rotated, shifted ellipsoid with condition number 1e6 (BBOB f10)."""
    rot, shift = _rotation(d, 3), _shift(d, 3, 4.0)
    weights = 10.0 ** (6 * np.arange(d) / (d - 1))

    def f(p: dict[str, Any]) -> float:
        z = rot @ (_vector(p, d) - shift)
        return float(np.sum(weights * z**2))

    return f


def _on_vector(fn: Callable[[np.ndarray], float], d: int) -> Callable[[dict[str, Any]], float]:
    return lambda p: fn(_vector(p, d))


def _embedded(
    fn: Callable[[np.ndarray], float], active: int, d: int, seed: int
) -> Callable[[dict[str, Any]], float]:
    """``fn`` of ``active`` of the ``d`` coordinates (chosen by ``seed``); the rest do nothing."""
    which = np.sort(np.random.default_rng(seed).permutation(d)[:active])
    return lambda p: fn(_vector(p, d)[which])


def _branin_unit(z: np.ndarray) -> float:
    return branin_xy(-5 + 15 * z[0], 15 * z[1])


# --- mixed spaces with discrete local optima --------------------------------------

_PENALTY = {"sgd": 0.6, "adam": 0.0, "rmsprop": 0.3}


def mixed(p: dict[str, Any]) -> float:
    """A training-loss-like surface: optimum 0 at lr = 10^-2.5, layers = 7, adam."""
    u = math.log10(p["lr"]) + 2.5
    v = (p["layers"] - 7) / 4
    return u**2 + v**2 + 0.5 * abs(u * v) + _PENALTY[p["opt"]]


_KIND = {"a": 0.0, "b": 2.0, "c": 1.0}


def app(p: dict[str, Any]) -> float:
    """The user's Hydra app of issue 19: a bowl in x and log lr, (n - 3)^2, a shift by kind."""
    bowl = (p["x"] - 0.7) ** 2 + (math.log10(p["lr"]) + 2.5) ** 2
    return bowl + (p["n"] - 3) ** 2 + _KIND[p["kind"]]


_ACT = {"relu": 0.0, "gelu": 0.15, "tanh": 0.5}
_OPT = {"sgd": 0.8, "adam": 0.0, "adamw": 0.05, "lion": 0.4}


def app6(p: dict[str, Any]) -> float:
    """Six hyperparameters, three discrete, that interact: optimum 0.

    The best depth depends on the learning rate (a deeper net wants a smaller
    one), the best width is 4 (of 1..8), and the choices shift the floor.
    """
    u = math.log10(p["lr"]) + 2.5 + 0.25 * (p["depth"] - 3)
    w = math.log10(p["wd"]) + 4.0
    return (
        u**2
        + 0.3 * w**2
        + 0.4 * (p["depth"] - 3) ** 2
        + 0.2 * (p["width"] - 4) ** 2
        + _ACT[p["act"]]
        + _OPT[p["opt"]]
    )


# --- the table ---------------------------------------------------------------------


def _noisy(problem: Problem, name: str, noise: float) -> Problem:
    return Problem(name, problem.space, problem.f, problem.optimum, noise)


def _problems() -> dict[str, Problem]:
    h6 = Problem("hartmann6", _box(6, 0.0, 1.0), _on_vector(hartmann6_x, 6), H6_MIN)
    out = [
        Problem(
            "branin",
            {"x0": Float(-5.0, 10.0), "x1": Float(0.0, 15.0)},
            lambda p: branin_xy(p["x0"], p["x1"]),
            BRANIN_MIN,
        ),
        h6,
        Problem("ackley5", _box(5, -32.768, 32.768), _on_vector(ackley_x, 5), 0.0),
        Problem("levy5", _box(5, -10.0, 10.0), _on_vector(levy_x, 5), 0.0),
        Problem("rosenbrock4", _box(4, -5.0, 10.0), _on_vector(rosenbrock_x, 4), 0.0),
        Problem("styblinski4", _box(4, -5.0, 5.0), _on_vector(styblinski_tang_x, 4), 4 * ST_MIN_1D),
        Problem("rastrigin5r", _box(5, -5.12, 5.12), _rastrigin(5), 0.0),
        Problem("schaffer5", _box(5, -5.0, 5.0), _schaffer(5), 0.0),
        Problem(
            "mixed",
            {
                "lr": Float(1e-5, 1.0, log=True),
                "layers": Int(1, 16),
                "opt": Categorical(["sgd", "adam", "rmsprop"]),
            },
            mixed,
            0.0,
        ),
        Problem(
            "app",
            {
                "x": Float(-2.0, 2.0),
                "lr": Float(1e-5, 1e-1, log=True),
                "n": Int(1, 5),
                "kind": Categorical(["a", "b", "c"]),
            },
            app,
            0.0,
        ),
        Problem(
            "app6",
            {
                "lr": Float(1e-5, 1.0, log=True),
                "wd": Float(1e-6, 1e-2, log=True),
                "depth": Int(1, 6),
                "width": Int(1, 8),
                "act": Categorical(["relu", "gelu", "tanh"]),
                "opt": Categorical(["sgd", "adam", "adamw", "lion"]),
            },
            app6,
            0.0,
        ),
        # Higher dimensions: a few active coordinates among many inert ones, and full-rank ones.
        Problem("branin20", _box(20, 0.0, 1.0), _embedded(_branin_unit, 2, 20, 4), BRANIN_MIN),
        Problem("hartmann6_20", _box(20, 0.0, 1.0), _embedded(hartmann6_x, 6, 20, 5), H6_MIN),
        Problem("branin50", _box(50, 0.0, 1.0), _embedded(_branin_unit, 2, 50, 6), BRANIN_MIN),
        Problem("ackley20", _box(20, -5.0, 10.0), _on_vector(ackley_x, 20), 0.0),
        Problem("ellipsoid20", _box(20, -5.0, 5.0), _ellipsoid(20), 0.0),
        Problem("ellipsoid50", _box(50, -5.0, 5.0), _ellipsoid(50), 0.0),
        # Noise at 5% of the range (Hartmann-6 spans [-3.32, 0]).
        _noisy(h6, "hartmann6_noisy", 0.05 * -H6_MIN),
    ]
    return {p.name: p for p in out}


PROBLEMS = _problems()
DISCRETE = ("mixed", "app", "app6")  # checked for a stuck discrete value per seed
