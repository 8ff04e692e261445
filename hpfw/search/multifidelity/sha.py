"""``sha``: successive halving from a minimum to a maximum budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpfw.search.multifidelity.brackets import sha_brackets
from hpfw.search.multifidelity.strategy import BracketStrategy
from hpfw.search.space import Distribution


class SuccessiveHalvingStrategy(BracketStrategy):
    """Successive halving (Jamieson and Talwalkar 2016; Li et al. 2018's inner loop).

    ``n_configs`` configurations train for ``min_budget`` (rounded so that the
    budgets are ``max_budget / eta**k``); the best ``1 / eta`` of them continue
    to ``eta`` times the budget, and so on up to ``max_budget``. By default
    ``n_configs = eta**s_max``, which leaves exactly one configuration at the
    full budget. ``iterations`` runs that many brackets one after another
    (with ``proposal="bayes"`` the later ones learn from the earlier ones).
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
        n_configs: int | None = None,
        iterations: int = 1,
        proposal: str = "random",
        random_fraction: float = 1 / 3,
        min_points: int | None = None,
        bayes_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            space,
            sha_brackets(min_budget, max_budget, eta, n_configs, iterations),
            direction=direction,
            seed=seed,
            proposal=proposal,
            random_fraction=random_fraction,
            min_points=min_points,
            bayes_options=bayes_options,
        )
        self.min_budget, self.eta = min_budget, eta
