"""New configurations for a bracket: uniform at random, or BOHB-style from a GP.

BOHB (Falkner et al., ICML 2018) fits its model to the results of the largest
budget that has enough observations and keeps a fraction of purely random
configurations so the search never stops exploring. Here the model is hpfw's
``bayes`` strategy (a Gaussian process with log expected improvement) instead
of BOHB's kernel density estimator: it is already tested on hpfw's spaces and
proposes a whole batch at once (fantasies of its pending points), which a rung needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpfw.search.space import Distribution
from hpfw.search.strategy import Trial, TrialState

PROPOSALS = ("random", "bayes")


def random_params(space: Mapping[str, Distribution], root: int, config: int) -> dict[str, Any]:
    """Configuration ``config``'s values, from ``(root, config)`` alone (as ``random`` does)."""
    unit = np.random.default_rng([root, config]).random(len(space))
    return {name: dist.from_unit(u) for (name, dist), u in zip(space.items(), unit, strict=True)}


def model_budget(observed: Mapping[int, Sequence[Trial]], min_points: int) -> int | None:
    """The largest budget with at least ``min_points`` completed trials, or ``None``."""
    ready = [
        budget
        for budget, trials in observed.items()
        if sum(t.state == TrialState.complete for t in trials) >= min_points
    ]
    return max(ready, default=None)


def bayes_params(
    space: Mapping[str, Distribution],
    trials: Sequence[Trial],
    n: int,
    *,
    direction: str,
    seed: int,
    options: Mapping[str, Any],
    directions: Sequence[str] = (),
    n_constraints: int = 0,
) -> list[dict[str, Any]]:
    """``n`` configurations proposed by a GP fitted to ``trials`` (all at one budget).

    A fresh ``BayesStrategy`` is told the trials (failed ones too: it steers
    away from them) and asked for ``n`` at once, so the batch is spread by its
    pending-point fantasies. Its own space-filling phase is skipped
    (``n_initial=0``): the bracket's random configurations play that part.
    With several objectives (``directions``) or constraints it is told each
    trial's objective vector, feasibility and slacks, so it models them all
    (bayes's ParEGO path, and a GP per constraint).
    """
    from hpfw.search.bayes.strategy import BayesStrategy  # JAX: loaded only when used

    model = BayesStrategy(space, direction=direction, seed=seed, n_initial=0, **options)
    if len(directions) > 1 or n_constraints:
        model.set_objectives(directions or (direction,), n_constraints)
    for k, trial in enumerate(trials):
        # Fresh ids: the model's ids are private; only params, state and results matter.
        told = Trial(k, dict(trial.params), trial.inactive, trial.state)
        told.values, told.feasible, told.slacks = trial.values, trial.feasible, trial.slacks
        model.tell(told, trial.value)
    return [t.params for t in model.ask(n)]
