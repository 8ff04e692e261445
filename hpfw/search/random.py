"""Random search: independent uniform draws, or a scrambled Sobol sequence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hpfw.search.space import Distribution
from hpfw.search.strategy import Strategy, Trial


class RandomStrategy(Strategy):
    """Samples every parameter independently from its distribution.

    Each dimension draws ``u`` in ``[0, 1)`` and maps it with the
    distribution's ``from_unit`` (uniform, log-uniform, integer or categorical),
    in space order. The values of trial ``id`` depend only on ``(seed, id)``,
    so a resumed sweep, whose replayed trials advance the ids, proposes exactly
    what an uninterrupted one would have, however the trials were batched.

    ``sobol=True`` takes point ``id`` of a scrambled Sobol sequence instead,
    which covers the space more evenly than independent draws.
    """

    needs_values = False  # proposes without looking at results
    multi_objective = True  # never reads values

    def __init__(
        self,
        space: Mapping[str, Distribution],
        *,
        direction: str = "minimize",
        seed: int | None = None,
        sobol: bool = False,
    ) -> None:
        super().__init__(space, direction=direction, seed=seed)
        # Without a seed, pick one now: the trials still depend only on their ids.
        self._root = seed if seed is not None else np.random.SeedSequence().entropy
        self._sobol = None
        if sobol:
            # scipy.stats takes ~0.6 s to import: only a Sobol sweep pays it at start-up.
            from scipy.stats import qmc

            self._sobol = qmc.Sobol(d=len(self.space), scramble=True, seed=self._root)
        self._points = np.empty((0, len(self.space)))  # the Sobol points drawn so far

    def ask(self, n: int) -> list[Trial]:
        return [self.new_trial(self._params(self._unit(self._next_id))) for _ in range(n)]

    def _unit(self, trial_id: int) -> np.ndarray:
        if self._sobol is None:
            return np.random.default_rng([self._root, trial_id]).random(len(self.space))
        while len(self._points) <= trial_id:
            # Doubling keeps the total drawn a power of two, which Sobol's balance needs.
            more = self._sobol.random(max(len(self._points), 16))
            self._points = np.concatenate([self._points, more])
        return self._points[trial_id]

    def _params(self, unit: np.ndarray) -> dict[str, Any]:
        return {
            name: dist.from_unit(u)
            for (name, dist), u in zip(self.space.items(), unit, strict=True)
        }
