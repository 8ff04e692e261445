"""The pruners' rules with several objectives: per-step objective vectors and how they compare.

A trial's curve holds its reported ``value`` (the sweep's first objective)
and its other numbers by name (``metrics``); with several objectives its
vector at a step is the first objective's value there and each other
objective's metric at the same step. An objective that was not reported at a
step (hpfw's trainer has no per-epoch ``train_seconds``) is left out of that
step's comparison, for every trial alike, so a loop that reports only the
first objective is pruned on it alone, as in a one-objective sweep.

Ranking reuses ``hpfw.search.pareto`` (non-dominated sorting, then crowding
distance: what ``sha``/``hyperband`` promote by), never a second copy of it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

Point = dict[str, float]  # objective name -> value at one step (the objectives reported there)


def point_at(
    values: Mapping[int, float],
    metrics: Mapping[str, Mapping[int, float]],
    step: int,
    names: Sequence[str],
    keys: Sequence[str] | None = None,
) -> Point | None:
    """The objectives' values at the first reported step at or after ``step``.

    ``names`` are the sweep's objectives in order (``values`` holds the
    first; ``metrics`` the others, by name). Every objective reported at that
    step is in the point, or exactly ``keys`` (None when one of them is missing).
    None before ``step`` is reached.
    """
    reached = [s for s in values if s >= step]
    if not reached:
        return None
    at = min(reached)
    found = {names[0]: values[at]}
    for name in names[1:]:
        number = metrics.get(name, {}).get(at)
        if number is not None:
            found[name] = number
    if keys is None:
        return found
    if any(k not in found for k in keys):
        return None
    return {k: found[k] for k in keys}


def has_nan(point: Point) -> bool:
    return any(math.isnan(v) for v in point.values())


def in_top(
    point: Point, competing: Sequence[Point], keep: int, directions: Mapping[str, str]
) -> bool:
    """Whether ``point`` is among the best ``keep`` of ``competing`` by non-dominated sorting.

    ``competing`` holds ``point`` itself (last, as the one-objective rule
    appends it). Ties in the order (equal fronts and crowding) go to
    ``point``, as the one-objective rule promotes a value equal to the cut.
    """
    from hpfw.search.pareto import as_minimized, order  # numpy only when a rung needs it

    keys = list(point)
    others = [c for c in competing if c is not point]
    rows = [[point[k] for k in keys]] + [[c[k] for k in keys] for c in others]
    ranked = order(as_minimized(rows, [directions[k] for k in keys]))
    return bool(0 in ranked[:keep])  # the asking trial is row 0: first among exact ties


def best_so_far(
    values: Mapping[int, float],
    metrics: Mapping[str, Mapping[int, float]],
    keys: Sequence[str],
    names: Sequence[str],
    directions: Mapping[str, str],
) -> Point | None:
    """Each objective's best finite value up to now (None when one has no finite value yet)."""
    best: Point = {}
    for key in keys:
        series = values if key == names[0] else metrics.get(key, {})
        finite = [v for v in series.values() if not math.isnan(v)]
        if not finite:
            return None
        best[key] = min(finite) if directions[key] == "minimize" else max(finite)
    return best


def median_dominates(best: Point, at_step: Sequence[Point], directions: Mapping[str, str]) -> bool:
    """Whether the per-objective median of ``at_step`` dominates ``best``.

    No worse in every objective and better in one: the trial is behind the
    typical completed trial everywhere. With one objective this is the
    median rule's ``best`` worse than the median.
    """
    from hpfw.search.pareto import as_minimized, dominates

    keys = list(best)
    median = [statistics.median(p[k] for p in at_step) for k in keys]
    rows = as_minimized([median, [best[k] for k in keys]], [directions[k] for k in keys])
    return dominates(rows[0], rows[1])


def directions_of(pruner: Any) -> dict[str, str]:
    """The pruner's objective -> direction."""
    return dict(zip(pruner.objectives, pruner.directions, strict=True))


def median_prunes(pruner: Any, trial: Any, step: int, done: Sequence[Any]) -> bool:
    """The median rule on vectors: prune when the completed trials' per-objective median at
    ``step`` dominates the trial's best-so-far vector (over the objectives it reported there)."""
    names, directions = pruner.objectives, directions_of(pruner)
    own = point_at(trial.values, trial.metrics, step, names)
    keys = list(own or ())
    best = best_so_far(trial.values, trial.metrics, keys, names, directions)
    if best is None:
        return True  # an objective with only NaN so far: it diverged
    at_step = []
    for curve in done:
        if step not in curve.values:
            continue
        point = point_at(curve.values, curve.metrics, step, names, keys)
        if point is not None and not has_nan(point):
            at_step.append(point)
    if len(at_step) < pruner.n_min_trials:
        return False
    return median_dominates(best, at_step, directions)


def prune_rungs(pruner: Any, trial: Any, others: Any, peer: Any) -> bool:
    """ASHA's rungs on vectors: at each rung the trial goes on when it is in the best
    ``len // eta`` (at least one) of the points reached there, by non-dominated sorting."""
    names, directions = pruner.objectives, directions_of(pruner)
    step = max(trial.values)
    everyone: list[Any] | None = None
    while True:
        at = pruner.rung_step(trial.rungs_passed)
        if (pruner.max_budget is not None and at >= pruner.max_budget) or step < at:
            return False
        point = point_at(trial.values, trial.metrics, at, names)
        if point is None:
            return False
        if has_nan(point):
            return True
        if everyone is None:
            everyone = [c for c in others() if c.trial != trial.trial and peer(c)]
        # The others' points over the objectives this trial reported there; one that
        # lacks any of them (or holds NaN) does not compete, as a NaN value does not.
        competing = [
            p
            for c in everyone
            if (p := point_at(c.values, c.metrics, at, names, list(point))) is not None
            and not has_nan(p)
        ] + [point]
        keep = max(len(competing) // pruner.eta, 1)
        if len(competing) <= pruner.bootstrap_count or not in_top(
            point, competing, keep, directions
        ):
            return True
        trial.rungs_passed += 1
