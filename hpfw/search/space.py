"""Typed, immutable search-space values: ``Float``, ``Int`` and ``Categorical``.

Every value knows how to map itself to and from the unit interval, so a
strategy can work in ``[0, 1]^d`` (random, Sobol, a Gaussian process) and get
back values of the right type, inside the bounds, on the step grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpfw.errors import HpfwError


class SearchSpaceError(HpfwError, ValueError):
    """A search-space value that cannot be sampled (empty, inverted, log of <= 0)."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Float:
    """A real number in ``[low, high]``; ``log`` samples uniformly in log space.

    ``step`` restricts values to ``low + k * step``.
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        if not (_number(self.low) and _number(self.high)) or not (
            math.isfinite(self.low) and math.isfinite(self.high)
        ):
            raise SearchSpaceError(
                f"Float bounds must be finite numbers, got ({self.low!r}, {self.high!r})"
            )
        if not self.low <= self.high:
            raise SearchSpaceError(f"Float needs low <= high, got ({self.low}, {self.high})")
        if self.log and self.low <= 0:
            raise SearchSpaceError(
                f"a log-scaled Float needs low > 0, got ({self.low}, {self.high})"
            )
        if self.step is not None and not self.step > 0:
            raise SearchSpaceError(f"Float step must be > 0, got {self.step}")
        if self.step is not None and self.log:
            raise SearchSpaceError("a Float cannot be both log-scaled and stepped")

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.step is not None:
            # Stay on the step grid: never round past the last point below high.
            k = min(round((value - self.low) / self.step), self._steps())
            value = self.low + k * self.step
        return float(min(max(value, self.low), self.high))

    def _steps(self) -> int:
        return math.floor((self.high - self.low) / self.step + 1e-9)

    def to_unit(self, value: float) -> float:
        if self.high == self.low:
            return 0.5
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(value) - lo) / (hi - lo)
        return (value - self.low) / (self.high - self.low)

    def contains(self, value: Any) -> bool:
        return _number(value) and self.low <= value <= self.high

    def grid(self, points: int | None) -> list[float]:
        if self.step is not None:
            return [
                min(float(self.low + k * self.step), self.high) for k in range(self._steps() + 1)
            ]
        if points is None:
            raise SearchSpaceError("needs a number of grid points (hydra.sweeper.grid_points)")
        if points == 1:
            return [self.from_unit(0.5)]
        return [self.from_unit(k / (points - 1)) for k in range(points)]


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both inclusive) on the grid ``low + k * step``."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)):
            raise SearchSpaceError(
                f"Int bounds must be integers, got ({self.low!r}, {self.high!r})"
            )
        if not self.low <= self.high:
            raise SearchSpaceError(f"Int needs low <= high, got ({self.low}, {self.high})")
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"a log-scaled Int needs low > 0, got ({self.low}, {self.high})")
        if not (isinstance(self.step, int) and self.step >= 1):
            raise SearchSpaceError(f"Int step must be an integer >= 1, got {self.step!r}")
        if self.log and self.step != 1:
            raise SearchSpaceError("a log-scaled Int must have step 1")

    @property
    def size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def from_unit(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            # Widen by half a unit each side so the end values are as likely as the rest.
            lo, hi = math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5)
            value = round(math.exp(lo + u * (hi - lo)))
            return int(min(max(value, self.low), self.high))
        k = min(int(u * self.size), self.size - 1)
        return self.low + k * self.step

    def to_unit(self, value: int) -> float:
        if self.log:
            lo, hi = math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5)
            return (math.log(value) - lo) / (hi - lo)
        return ((value - self.low) / self.step + 0.5) / self.size

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def grid(self, points: int | None = None) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class Categorical:
    """One of a fixed tuple of choices (numbers, strings, booleans or config-group options)."""

    choices: tuple[Any, ...]

    def __init__(self, choices: Any) -> None:
        object.__setattr__(self, "choices", tuple(choices))
        if not self.choices:
            raise SearchSpaceError("Categorical needs at least one choice")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise SearchSpaceError(f"Categorical choices repeat: {list(self.choices)}")

    def from_unit(self, u: float) -> Any:
        k = min(int(min(max(float(u), 0.0), 1.0) * len(self.choices)), len(self.choices) - 1)
        return self.choices[k]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def index(self, value: Any) -> int:
        for k, choice in enumerate(self.choices):
            if type(choice) is type(value) and choice == value:
                return k
        raise ValueError(f"{value!r} is not one of {list(self.choices)}")

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def grid(self, points: int | None = None) -> list[Any]:
        return list(self.choices)


Distribution = Float | Int | Categorical
SearchSpace = Mapping[str, Distribution]


def to_json(dist: Distribution) -> dict[str, Any]:
    """A JSON-safe description of ``dist`` (the journal stores the space this way)."""
    if isinstance(dist, Categorical):
        return {"type": "categorical", "choices": list(dist.choices)}
    kind = "float" if isinstance(dist, Float) else "int"
    return {"type": kind, "low": dist.low, "high": dist.high, "log": dist.log, "step": dist.step}


def from_json(data: Mapping[str, Any]) -> Distribution:
    kind = data["type"]
    if kind == "categorical":
        return Categorical(data["choices"])
    if kind == "float":
        return Float(data["low"], data["high"], bool(data["log"]), data["step"])
    if kind == "int":
        return Int(int(data["low"]), int(data["high"]), bool(data["log"]), int(data["step"]))
    raise ValueError(f"unknown distribution type {kind!r}")


def check_space(space: Any) -> dict[str, Distribution]:
    """Validates a user-given space (a mapping of names to distributions)."""
    if not isinstance(space, Mapping) or not space:
        raise SearchSpaceError(
            "a search space is a non-empty dict of names to Float, Int or Categorical"
        )
    for name, dist in space.items():
        if not isinstance(dist, (Float, Int, Categorical)):
            raise SearchSpaceError(
                f"search-space entry {name!r} is {dist!r}; expected Float, Int or Categorical"
            )
    return dict(space)
