"""``BracketStrategy``: runs brackets of successive halving rung by rung through ask/tell.

``sha`` and ``hyperband`` differ only in their list of brackets; this class
turns any list into trials. Every trial carries its lineage in ``info``
(``config``, ``bracket``, ``rung``, ``budget``), which the journal keeps, so
the whole state is derived from the trials told so far: a resumed sweep
replays them and carries on mid-bracket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpfw.errors import HpfwError
from hpfw.search.multifidelity import proposals
from hpfw.search.multifidelity.brackets import LINEAGE, Bracket, promote, promote_pareto
from hpfw.search.space import Distribution
from hpfw.search.strategy import Strategy, Trial, TrialState


class BracketStrategy(Strategy):
    """Trains configurations on small budgets and promotes the best to larger ones.

    Brackets run one after another, and within a bracket rung after rung:
    ``ask`` returns only trials of the current rung (so a launched batch never
    mixes budgets), and a rung's promotions are decided once every trial of
    the rung before it has been told. Rung ``i`` keeps the ``sizes[i]`` best
    configurations of rung ``i - 1`` (failed ones never go on). A promotion is
    a new trial with the same params and ``config`` id and a larger budget.

    ``ask`` returns an empty list when every bracket is done, and also while
    the current rung waits for results it has not been told (which never
    happens in hpfw's sweeper, where a batch is told before the next ask).

    ``proposal="bayes"`` makes it BOHB-like: a fraction ``1 - random_fraction``
    of each bracket's new configurations comes from a GP fitted to the largest
    budget with at least ``min_points`` completed trials (default: the number
    of parameters + 2); the rest, and all of them before any budget has enough
    results, are uniform at random. ``bayes_options`` go to that GP.
    """

    multi_objective = True  # rungs keep their best by non-dominated sorting (promote_pareto)

    def __init__(
        self,
        space: Mapping[str, Distribution],
        brackets: Sequence[Bracket],
        *,
        direction: str = "minimize",
        seed: int | None = None,
        proposal: str = "random",
        random_fraction: float = 1 / 3,
        min_points: int | None = None,
        bayes_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, direction=direction, seed=seed)
        if proposal not in proposals.PROPOSALS:
            raise HpfwError(
                f"proposal must be one of {', '.join(proposals.PROPOSALS)}, got {proposal!r}"
            )
        if isinstance(random_fraction, bool) or not 0 <= random_fraction <= 1:
            raise HpfwError(f"random_fraction must be in [0, 1], got {random_fraction!r}")
        if min_points is None:
            min_points = len(self.space) + 2
        if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 2:
            raise HpfwError(f"min_points must be an integer >= 2, got {min_points!r}")
        self.brackets = list(brackets)
        self.max_budget = max(b.budgets[-1] for b in self.brackets)
        self.proposal = proposal
        self.compiles_programs = proposal == "bayes"  # BOHB-style: the GP's programs
        self.random_fraction = float(random_fraction)
        self.min_points = min_points
        self.bayes_options = dict(bayes_options or {})
        # Without a seed, pick one now: configurations still depend only on their ids.
        self._root = seed if seed is not None else int(np.random.SeedSequence().entropy)
        starts = np.cumsum([0] + [b.n_configs for b in self.brackets])
        self._first_config = [int(c) for c in starts[:-1]]
        self._params: dict[int, dict[str, Any]] = {}  # config id -> its values
        # (bracket, rung) -> config id -> its trial there (pending or told)
        self._rungs: dict[tuple[int, int], dict[int, Trial]] = {}

    # --- ask / tell ------------------------------------------------------------

    @property
    def max_trials(self) -> int:
        return sum(b.n_trials for b in self.brackets)

    def ask(self, n: int) -> list[Trial]:
        for j, bracket in enumerate(self.brackets):
            for i in range(len(bracket.sizes)):
                members = self._members(j, i)
                if members is None:
                    return []  # the rung before is still running
                launched = self._rungs.get((j, i), {})
                todo = [c for c in members if c not in launched]
                if todo:
                    return self._launch(j, i, todo[:n]) if n > 0 else []
                if any(t.state == TrialState.running for t in launched.values()):
                    return []
        return []

    def tell(self, trial: Trial, value: float | None) -> None:
        super().tell(trial, value)
        self._record(trial)

    def will_rerun(self, trials: Sequence[Trial]) -> None:
        super().will_rerun(trials)
        for trial in trials:
            self._record(trial)

    @property
    def best(self) -> Trial | None:
        """The best completed trial of the largest budget any trial completed at.

        Values at different budgets are not comparable (a one-epoch accuracy
        is no rival for a full run's), so, as in BOHB, the incumbent comes
        from the largest budget reached.
        """
        done = [t for t in self.completed if t.feasible]
        if not done:
            return None
        return min(done, key=lambda t: (-int(t.info.get("budget") or 0), self.score(t.value)))

    # --- the plan ----------------------------------------------------------------

    def _members(self, j: int, i: int) -> list[int] | None:
        """The configurations of rung ``i`` of bracket ``j``; ``None`` until they are known."""
        bracket = self.brackets[j]
        if i == 0:
            first = self._first_config[j]
            return list(range(first, first + bracket.n_configs))
        below = self._members(j, i - 1)
        if below is None:
            return None
        trials = self._rungs.get((j, i - 1), {})
        if any(c not in trials or trials[c].state == TrialState.running for c in below):
            return None
        if len(self.directions) > 1 or self.n_constraints:
            ranked = [(c, trials[c]) for c in below]
            return promote_pareto(ranked, bracket.sizes[i], self.directions)
        return promote([(c, trials[c].value) for c in below], bracket.sizes[i], self.score)

    def _launch(self, j: int, i: int, configs: list[int]) -> list[Trial]:
        budget = self.brackets[j].budgets[i]
        sources: dict[int, str] = {}
        if i == 0:
            for config, (params, source) in zip(configs, self._propose(configs), strict=True):
                self._params[config] = params
                sources[config] = source
        trials = []
        for config in configs:
            # BOHB's trials say where their configuration came from ("model" or "random").
            extra = (
                {"source": sources[config]}
                if config in sources and self.proposal == "bayes"
                else {}
            )
            trial = self.new_trial(
                dict(self._params[config]), config=config, bracket=j, rung=i, budget=budget, **extra
            )
            self._rungs.setdefault((j, i), {})[config] = trial
            trials.append(trial)
        return trials

    def _record(self, trial: Trial) -> None:
        """Places a told or pending trial in its rung; checks it matches this plan."""
        info = trial.info
        if not all(isinstance(info.get(k), int) for k in LINEAGE):
            return  # not one of ours (no lineage): known to the base class only
        j, i, config, budget = info["bracket"], info["rung"], info["config"], info["budget"]
        planned = (
            j < len(self.brackets)
            and i < len(self.brackets[j].budgets)
            and self.brackets[j].budgets[i] == budget
            and 0 <= config - self._first_config[j] < self.brackets[j].n_configs
        )
        if not planned:
            raise HpfwError(
                f"trial {trial.id} ran configuration {config} in bracket {j}, rung {i}, at "
                f"budget {budget}, which the "
                "current settings do not plan; resume with the same min_budget, max_budget, "
                "eta, n_configs and iterations"
            )
        self._rungs.setdefault((j, i), {})[config] = trial
        self._params.setdefault(config, dict(trial.params))

    # --- new configurations ------------------------------------------------------

    def _propose(self, configs: list[int]) -> list[tuple[dict[str, Any], str]]:
        """Values for new configurations, each with its source: "random" or "model"."""
        params = {c: proposals.random_params(self.space, self._root, c) for c in configs}
        sources = dict.fromkeys(configs, "random")
        if self.proposal == "bayes":
            # A draw per configuration id decides random or model, so resume repeats it.
            modelled = [
                c
                for c in configs
                if np.random.default_rng([self._root, c, 1]).random() >= self.random_fraction
            ]
            observed: dict[int, list[Trial]] = {}
            for trial in self.trials.values():
                if isinstance(trial.info.get("budget"), int):
                    observed.setdefault(trial.info["budget"], []).append(trial)
            budget = proposals.model_budget(observed, self.min_points)
            if modelled and budget is not None:
                seed = int(np.random.default_rng([self._root, configs[0], 2]).integers(2**31))
                found = proposals.bayes_params(
                    self.space,
                    sorted(observed[budget], key=lambda t: t.id),
                    len(modelled),
                    direction=self.direction,
                    seed=seed,
                    options=self.bayes_options,
                    directions=self.directions,
                    n_constraints=self.n_constraints,
                )
                for config, values in zip(modelled, found, strict=False):
                    params[config], sources[config] = values, "model"
        return [(params[c], sources[c]) for c in configs]
