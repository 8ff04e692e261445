"""Maps trials to points of the unit cube the GP works in, and points back to typed params.

``Float`` and ``Int`` take one dimension each, through the distribution's own
``to_unit`` / ``from_unit`` (so log parameters live in log space, and an
integer is a relaxed real that ``from_unit`` rounds). A ``Categorical`` with
``c`` choices takes ``c`` one-hot dimensions; a point maps back to the choice
with the largest coordinate. One-hot keeps the GP a plain Matern kernel with a
lengthscale per dimension, so the optimiser sees one kernel for every space.

Scores map to the GP's targets by ``targets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from hpfw.search.space import Categorical, Distribution, Int

INACTIVE = 0.5  # an inactive parameter sits at its dimension's midpoint


class Encoder:
    """The encoding of one search space: ``width`` unit-cube dimensions."""

    def __init__(self, space: Mapping[str, Distribution]) -> None:
        self.space = dict(space)
        self.slices: dict[str, slice] = {}
        start = 0
        for name, dist in self.space.items():
            size = len(dist.choices) if isinstance(dist, Categorical) else 1
            self.slices[name] = slice(start, start + size)
            start += size
        self.width = start
        # Gradient refinement moves only the numeric dimensions; one-hot blocks stay put.
        self.free = np.ones(self.width)
        for name, dist in self.space.items():
            if isinstance(dist, Categorical):
                self.free[self.slices[name]] = 0.0

    @property
    def categorical_blocks(self) -> tuple[tuple[int, int], ...]:
        """The ``(start, stop)`` columns of each categorical's one-hot block."""
        return tuple(
            (where.start, where.stop)
            for name, where in self.slices.items()
            if isinstance(self.space[name], Categorical)
        )

    def encode(
        self, params: Mapping[str, Any], inactive: frozenset[str] = frozenset()
    ) -> np.ndarray:
        x = np.empty(self.width)
        for name, dist in self.space.items():
            where = self.slices[name]
            if name in inactive:
                x[where] = INACTIVE
            elif isinstance(dist, Categorical):
                x[where] = 0.0
                x[where.start + dist.index(params[name])] = 1.0
            else:
                x[where] = min(max(dist.to_unit(params[name]), 0.0), 1.0)
        return x

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        params = {}
        for name, dist in self.space.items():
            block = x[self.slices[name]]
            if isinstance(dist, Categorical):
                params[name] = dist.choices[int(np.argmax(block))]
            else:
                params[name] = dist.from_unit(float(block[0]))
        return params

    def from_params_unit(self, u: np.ndarray) -> np.ndarray:
        """Points of ``[0, 1)^len(space)`` (one coordinate per parameter) as encoded points.

        Numeric coordinates stay relaxed; a categorical coordinate picks its
        choice the way ``Categorical.from_unit`` does, then becomes one-hot.
        """
        x = np.zeros((len(u), self.width))
        for j, (name, dist) in enumerate(self.space.items()):
            where = self.slices[name]
            if isinstance(dist, Categorical):
                k = np.minimum((u[:, j] * len(dist.choices)).astype(int), len(dist.choices) - 1)
                x[np.arange(len(u)), where.start + k] = 1.0
            else:
                x[:, where.start] = u[:, j]
        return x

    def snap(self, x: np.ndarray) -> np.ndarray:
        """``x`` moved onto the point its typed params encode to (integers and steps rounded)."""
        return self.encode(self.decode(x))

    def neighbours(self, params: Mapping[str, Any], integers: bool = True) -> list[dict[str, Any]]:
        """Every ``params`` one discrete change away: each other choice, each integer +-1 step."""
        out = []
        for name, dist in self.space.items():
            if isinstance(dist, Categorical):
                values = [c for c in dist.choices if dist.index(c) != dist.index(params[name])]
            elif isinstance(dist, Int) and integers:
                steps = (params[name] - dist.step, params[name] + dist.step)
                values = [v for v in steps if dist.contains(v)]
            else:
                continue
            out += [{**params, name: v} for v in values]
        return out

    @property
    def continuous(self) -> np.ndarray:
        """1.0 for the dimension of a ``Float``, 0.0 for an integer's or a one-hot one."""
        cont = np.zeros(self.width)
        for name, dist in self.space.items():
            if not isinstance(dist, (Categorical, Int)):
                cont[self.slices[name]] = 1.0
        return cont

    @property
    def discrete(self) -> bool:
        """Whether the space has a categorical or integer parameter."""
        return any(isinstance(d, (Categorical, Int)) for d in self.space.values())

    def key(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """A hashable identity for a set of params (tells apart 1 and True, 1 and 1.0)."""
        return tuple(f"{type(params[n]).__name__}:{params[n]!r}" for n in self.space)


def targets(scores: np.ndarray, warp: bool = True) -> np.ndarray:
    """Standardised scores, first warped by a Yeo-Johnson power transform if ``warp``.

    The warp (fitted by maximum likelihood, as in HEBO) tames heavy tails, such
    as a few huge values far from the optimum, that a stationary GP fits badly;
    it is monotone, so the minimiser is unchanged.
    """
    y = _standardise(scores)
    if warp and len(y) >= 3 and y.std() > 0:
        with np.errstate(all="ignore"):
            warped, _ = stats.yeojohnson(y)
        if np.all(np.isfinite(warped)) and warped.std() > 0:
            y = _standardise(warped)
    return y


def _standardise(y: np.ndarray) -> np.ndarray:
    spread = y.std()
    return (y - y.mean()) / (spread if spread > 0 else 1.0)
