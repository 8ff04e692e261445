"""Optuna's TPE sampler as an hpfw strategy, registered as ``tpe`` through an entry point."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState as OptunaState

from hpfw import Categorical, Distribution, Float, Int, Strategy, Trial, TrialState

__all__ = ["TPEStrategy", "to_optuna"]


class TPEStrategy(Strategy):
    """Tree-structured Parzen Estimator: models good and bad trials, samples near the good.

    An in-memory Optuna study driven through ask/tell; ``sampler_options`` go
    to ``optuna.samplers.TPESampler`` (``n_startup_trials``, ``multivariate``,
    ``constant_liar`` and so on). With a batch size above one, pass
    ``constant_liar=True`` so trials of one batch avoid each other. The study
    is ``self.study``, for Optuna's own analysis and plots.
    """

    def __init__(
        self,
        space: Mapping[str, Distribution],
        *,
        direction: str = "minimize",
        seed: int | None = None,
        **sampler_options: Any,
    ) -> None:
        super().__init__(space, direction=direction, seed=seed)
        # hpfw reports progress itself; Optuna's per-trial INFO lines would double it.
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._distributions = {name: to_optuna(dist) for name, dist in self.space.items()}
        self._sampler_options = sampler_options
        # Every trial's random draws come from (root seed, trial id): see ``ask``.
        self._root = seed if seed is not None else secrets.randbits(31)
        self.study = optuna.create_study(direction=direction, sampler=self._sampler(0))
        self._asked: dict[int, optuna.trial.Trial] = {}  # hpfw id -> Optuna trial not yet told

    def _sampler(self, trial_id: int) -> optuna.samplers.TPESampler:
        seed = int(np.random.SeedSequence([self._root, trial_id]).generate_state(1)[0])
        return optuna.samplers.TPESampler(seed=seed, **self._sampler_options)

    def ask(self, n: int) -> list[Trial]:
        trials = []
        for _ in range(n):
            # A sampler seeded by the trial's id, not one seeded once: a resumed
            # sweep replays the journal into a fresh study, and a sampler seeded
            # once would start its random numbers over, proposing the first
            # trials' values again. Its state is otherwise all in the study.
            self.study.sampler = self._sampler(self._next_id)
            asked = self.study.ask(self._distributions)
            trial = self.new_trial(self._typed(asked.params))
            self._asked[trial.id] = asked
            trials.append(trial)
        return trials

    def tell(self, trial: Trial, value: float | None) -> None:
        super().tell(trial, value)  # turns NaN and inf into None, sets trial.state
        value = trial.value
        asked = self._asked.pop(trial.id, None)
        # A pruned trial is told as Optuna's PRUNED with the values it reported, which
        # TPE ranks below the completed trials (better than a failure, which it ignores).
        pruned = trial.state == TrialState.pruned
        reported = {int(s): float(v) for s, v in trial.intermediate.items() if math.isfinite(v)}
        if asked is not None and not trial.inactive:
            if pruned:
                for step, number in sorted(reported.items()):
                    asked.report(number, step)
                self.study.tell(asked, state=OptunaState.PRUNED)
            elif value is None:
                self.study.tell(asked, state=OptunaState.FAIL)
            else:
                self.study.tell(asked, value)
            return
        if asked is not None:
            # Optuna cannot drop parameters from an asked trial. Retire it (TPE ignores
            # failed trials) and record a copy without the inactive values, which the
            # objective never saw and would otherwise teach TPE noise.
            self.study.tell(asked, state=OptunaState.FAIL)
        # A trial Optuna never asked: replayed from the journal, or a copy as above.
        active = {k: v for k, v in trial.params.items() if k not in trial.inactive}
        state = OptunaState.COMPLETE if value is not None else OptunaState.FAIL
        self.study.add_trial(
            optuna.trial.create_trial(
                params=active,
                distributions={k: self._distributions[k] for k in active},
                value=value,
                state=OptunaState.PRUNED if pruned else state,
                intermediate_values=reported if pruned else None,
            )
        )

    def _typed(self, params: Mapping[str, Any]) -> dict[str, Any]:
        typed = {}
        for name, dist in self.space.items():
            value = params[name]
            if isinstance(dist, Float):
                value = float(value)  # guards against NumPy scalars from a custom sampler
            elif isinstance(dist, Int):
                value = int(value)
            else:
                # Optuna returns a deep copy of the choice; give back the user's own
                # object, matched by type too, so that 1, 1.0 and True stay apart.
                value = dist.choices[dist.index(value)]
            typed[name] = value
        return typed


def to_optuna(dist: Distribution) -> BaseDistribution:
    """The Optuna distribution with the same values as an hpfw one."""
    if isinstance(dist, Categorical):
        return CategoricalDistribution(dist.choices)
    if isinstance(dist, Int):
        # End on the step grid, as hpfw does; Optuna would warn and do the same.
        high = dist.low + (dist.size - 1) * dist.step
        return IntDistribution(dist.low, high, log=dist.log, step=dist.step)
    if dist.step is None:
        return FloatDistribution(float(dist.low), float(dist.high), log=dist.log)
    # Decimal, as Optuna checks divisibility in it: a float product can land past high.
    steps = len(dist.grid(None)) - 1
    high = Decimal(str(dist.low)) + steps * Decimal(str(dist.step))
    return FloatDistribution(float(dist.low), float(high), step=float(dist.step))
