"""Grid search: every combination of each parameter's grid values, once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpfw.errors import HpfwError
from hpfw.search.space import Distribution, Float, SearchSpaceError
from hpfw.search.strategy import Strategy, Trial


class GridStrategy(Strategy):
    """Walks the cartesian product of the parameters' grids, in space order.

    Trial ``id`` takes grid point ``id`` (the last parameter varies fastest,
    as in ``itertools.product``), or point ``permutation[id]`` of a seeded
    permutation with ``shuffle=True``; replayed trials advance the ids, so a
    resumed sweep carries on where it stopped. A ``Float`` without a step is
    cut into ``grid_points`` evenly spaced values (log-spaced if ``log``).
    """

    needs_values = False  # proposes without looking at results

    def __init__(
        self,
        space: Mapping[str, Distribution],
        *,
        direction: str = "minimize",
        seed: int | None = None,
        grid_points: int | None = None,
        shuffle: bool = False,
    ) -> None:
        super().__init__(space, direction=direction, seed=seed)
        if grid_points is not None and not (isinstance(grid_points, int) and grid_points >= 1):
            raise HpfwError(f"grid_points must be an integer >= 1, got {grid_points!r}")
        self._axes = [_axis(name, dist, grid_points) for name, dist in self.space.items()]
        self.size = math.prod(len(axis) for axis in self._axes)
        self._order = np.random.default_rng(seed).permutation(self.size) if shuffle else None

    @property
    def max_trials(self) -> int:
        """The grid's size: a sweep's total (and its progress and ETA) count this many."""
        return self.size

    def ask(self, n: int) -> list[Trial]:
        count = max(min(n, self.size - self._next_id), 0)
        return [self.new_trial(self._point(self._next_id)) for _ in range(count)]

    def _point(self, trial_id: int) -> dict[str, Any]:
        index = int(self._order[trial_id]) if self._order is not None else trial_id
        # Decode index in mixed radix, last axis fastest, so no product is materialized.
        values = []
        for axis in reversed(self._axes):
            index, digit = divmod(index, len(axis))
            values.append(axis[digit])
        return dict(zip(self.space, reversed(values), strict=True))


def _axis(name: str, dist: Distribution, points: int | None) -> list[Any]:
    if isinstance(dist, Float) and dist.step is None and points is None:
        raise SearchSpaceError(
            f"parameter {name!r} needs a number of grid points: set hydra.sweeper.grid_points=N "
            "(or give the interval a step, or use choice/range)"
        )
    return dist.grid(points)
