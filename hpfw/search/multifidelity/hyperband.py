"""``hyperband``: successive halving over every trade-off of many cheap against few full runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpfw.search.multifidelity.brackets import hyperband_brackets
from hpfw.search.multifidelity.strategy import BracketStrategy
from hpfw.search.space import Distribution


class HyperbandStrategy(BracketStrategy):
    """Hyperband (Li et al., JMLR 2018): brackets ``s = s_max, ..., 0`` of successive halving.

    With ``R = max_budget / min_budget``, bracket ``s`` starts
    ``ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at budget
    ``max_budget / eta**s`` and keeps the best ``1 / eta`` at each rung; the
    last bracket trains a few configurations at the full budget only. No one
    bracket is best for every problem, so Hyperband runs them all
    (``iterations`` times). ``proposal="bayes"`` is BOHB (Falkner et al.
    2018) with a GP model: see ``BracketStrategy``.
    """

    def __init__(
        self,
        space: Mapping[str, Distribution],
        *,
        direction: str = "minimize",
        seed: int | None = None,
        min_budget: int = 1,
        max_budget: int = 27,
        eta: int = 3,
        iterations: int = 1,
        proposal: str = "random",
        random_fraction: float = 1 / 3,
        min_points: int | None = None,
        bayes_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            space,
            hyperband_brackets(min_budget, max_budget, eta, iterations),
            direction=direction,
            seed=seed,
            proposal=proposal,
            random_fraction=random_fraction,
            min_points=min_points,
            bayes_options=bayes_options,
        )
        self.min_budget, self.eta = min_budget, eta
