"""Which hyperparameters mattered: fANOVA importances of a sweep, from its journal alone.

Works for any strategy: the journal's space says how to encode each parameter
so that the uniform measure on ``[0, 1]`` is the space's own (log-scaled
values in log space, each integer and each category an equal share), and
``hpfw.sweeper.fanova`` decomposes a random forest fitted to the completed
trials. Importances are fractions of the objective's variance: main effects
need not sum to one, the rest is interactions (and noise the forest fits).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpfw.search.space import Categorical, Distribution, from_json
from hpfw.sweeper import rungs
from hpfw.sweeper.reports import active_params, completed

MIN_TRIALS = 5  # fewer completed trials say nothing about variance
MAX_TRIALS = 1000  # larger sweeps are subsampled: the estimate is stable well before this
TOP_PAIRS = 3  # interactions are computed among the most important few parameters

Record = dict[str, Any]


@dataclass(frozen=True)
class Importance:
    """A sweep's fANOVA importances; ``names`` are ranked by main effect, largest first."""

    names: list[str]
    main: dict[str, float]  # name -> fraction of variance of its main effect
    pairs: dict[tuple[str, str], float]  # pure interactions among the top parameters
    n_trials: int  # trials the forest was fitted on
    note: str  # how those trials were chosen (subsample, budget), or ""
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it is not ranked
    forest: Any = None  # the fanova.Forest, for the report's marginal curves
    dists: dict[str, Distribution] = field(default_factory=dict)  # the ranked names' space

    def column(self, name: str) -> int:
        return list(self.dists).index(name)


def trials_for_importance(trials: Sequence[Record]) -> tuple[list[Record], str]:
    """The completed trials whose values compare, and a note saying which they are.

    In a multi-fidelity sweep a value after one epoch is no rival for a full
    run's, so only one budget is used: the largest with enough trials.
    """
    done = completed(trials)
    if not rungs.is_multi_fidelity(done):
        return done, ""
    by_budget: dict[int, list[Record]] = {}
    for trial in done:
        by_budget.setdefault(rungs.budget(trial) or 0, []).append(trial)
    for budget in sorted(by_budget, reverse=True):
        if len(by_budget[budget]) >= MIN_TRIALS:
            return by_budget[budget], f"trials at budget {budget} only"
    return [], ""


def encode(dist: Distribution, value: Any) -> float:
    """``value`` in ``[0, 1]`` so that the uniform measure there is the space's measure."""
    return float(dist.to_unit(value))


def compute(
    header: dict[str, Any], trials: Sequence[Record], *, seed: int = 0
) -> Importance | None:
    """The sweep's importances, or ``None`` with fewer than ``MIN_TRIALS`` usable trials."""
    chosen, note = trials_for_importance(trials)
    actives = [active_params(t) for t in chosen]
    space = header.get("space") or {}
    dists: dict[str, Distribution] = {}
    skipped: dict[str, str] = {}
    for name, raw in space.items():
        try:
            dist = from_json(raw)
        except (KeyError, TypeError, ValueError):
            skipped[name] = "unknown distribution"
            continue
        if _constant(dist):
            skipped[name] = "a single value"
        elif any(name not in active for active in actives):
            # Conditional parameters (inactive in some trials) have no value there to
            # decompose; Optuna's evaluators leave them out the same way.
            skipped[name] = "inactive in some trials"
        else:
            dists[name] = dist
    if len(chosen) < MIN_TRIALS or not dists:
        return None
    if len(chosen) > MAX_TRIALS:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(chosen), MAX_TRIALS, replace=False))
        note = ", ".join(filter(None, [note, f"a random {MAX_TRIALS} of {len(chosen)} trials"]))
        chosen = [chosen[k] for k in keep]
        actives = [actives[k] for k in keep]
    try:
        x = np.array([[encode(d, active[n]) for n, d in dists.items()] for active in actives])
    except (TypeError, ValueError):
        return None  # a value outside its declared space (a hand-edited journal)
    y = np.array([float(t["value"]) for t in chosen])
    if not np.all(np.isfinite(x)):
        return None
    from hpfw.sweeper import fanova  # scikit-learn: only when computing

    forest = fanova.fit(np.clip(x, 0.0, 1.0), y, seed=seed)
    effects = forest.main_effects()
    names = list(dists)
    order = sorted(range(len(names)), key=lambda k: (-effects[k], k))
    top = order[:TOP_PAIRS]
    pairs = {(names[i], names[j]): forest.interaction(i, j) for i, j in fanova.pairs_of(top)}
    return Importance(
        names=[names[k] for k in order],
        main={names[k]: float(effects[k]) for k in order},
        pairs=pairs,
        n_trials=len(chosen),
        note=note,
        skipped=skipped,
        forest=forest,
        dists=dists,
    )


def _constant(dist: Distribution) -> bool:
    if isinstance(dist, Categorical):
        return len(dist.choices) < 2
    return dist.low == dist.high


def describe(result: Importance | None, trials: Sequence[Record]) -> str:
    """One line on what the importances rest on (or why there are none)."""
    if result is None:
        usable = len(trials_for_importance(trials)[0])
        return (
            f"parameter importance needs at least {MIN_TRIALS} completed trials with "
            f"comparable values and a swept parameter active in all of them (have {usable})"
        )
    extra = f"; {result.note}" if result.note else ""
    return (
        f"fANOVA over a {len(result.forest.trees)}-tree random forest fitted to "
        f"{result.n_trials} trials{extra}; shares of the objective's variance"
    )


_last: list[tuple[Any, Importance | None]] = []  # one entry: the last sweep computed


def cached(header: dict[str, Any], trials: Sequence[Record]) -> Importance | None:
    """``compute``, reused while the trials are unchanged.

    ``hpfw report`` shows importances in report.html and in the printed
    summary; on a large sweep fitting the forest twice would double its cost.
    """
    key = (
        json.dumps(header.get("space"), sort_keys=True, default=str),
        tuple((t.get("id"), t.get("state"), t.get("value"), rungs.budget(t)) for t in trials),
    )
    if _last and _last[0][0] == key:
        return _last[0][1]
    result = compute(header, trials)
    _last[:] = [(key, result)]
    return result


def table(header: dict[str, Any], trials: Sequence[Record]) -> Any:
    """The importances as a rich table (a bar per parameter), or a one-line note."""
    from rich.table import Table
    from rich.text import Text

    result = cached(header, trials)
    if result is None:
        return Text(describe(None, trials).capitalize() + ".", style="dim")
    table = Table(title="Parameter importance (fANOVA)", caption=describe(result, trials))
    table.add_column("parameter")
    table.add_column("share", justify="right")
    table.add_column("")
    for name in result.names:
        share = result.main[name]
        table.add_row(name, f"{share:.1%}", "█" * round(max(share, 0.0) * 30))
    for (a, b), share in result.pairs.items():
        table.add_row(
            f"{a} \N{MULTIPLICATION SIGN} {b}",
            f"{share:.1%}",
            "▒" * round(max(share, 0.0) * 30),
            style="dim",
        )
    for name, why in result.skipped.items():
        table.add_row(name, "-", why, style="dim")
    return table
