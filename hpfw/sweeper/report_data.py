"""The data behind report.html: the journal's trials as compact columns, samples and surfaces.

Every trial goes into the page once, as columns (the sortable table shows them
all). Charts that draw a mark per trial use a sample of at most ``CHART_CAP``
trials (the best ``BEST_KEPT`` and a seeded random draw of the rest), so a
10,000-trial sweep stays quick to open and small on disk; the best-so-far line
is exact (it only changes where a trial improved on all before it).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from hpfw.search.space import Categorical, Distribution, Float, from_json
from hpfw.sweeper import rungs
from hpfw.sweeper.importance import Importance
from hpfw.sweeper.intermediate import intermediate_values
from hpfw.sweeper.reports import active_params, completed, counts, maximize, param_names, ranked
from hpfw.values import is_finite, is_number

CHART_CAP = 2000  # trials drawn in the per-trial charts
BEST_KEPT = 200  # of which the best, always
CURVE_CAP = 200  # intermediate-value curves drawn
MAX_METRICS = 40  # metric columns in the table (the rest stay in trials.csv)
GRID = 24  # cells per side of a contour's surface
SLICE_POINTS = 60  # points on a slice plot's marginal curve

Record = dict[str, Any]


def objectives(header: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The sweep's objectives as ``(name, direction)``.

    Today a sweep has one (``objective``, ``direction``). A header with an
    ``objectives`` mapping of metric -> direction (several objectives) is
    drawn with a Pareto front, each objective read from the trials' metrics.
    """
    raw = header.get("objectives")
    if isinstance(raw, Mapping) and len(raw) > 1:
        return [(str(k), str(v)) for k, v in raw.items()]
    return [(str(header.get("objective") or "objective"), str(header.get("direction", "minimize")))]


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[bool]:
    """Whether each point is non-dominated (no other is as good everywhere and better once)."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    p = np.asarray(points, dtype=float) * signs
    front = []
    for k in range(len(p)):
        dominated = np.all(p <= p[k], axis=1) & np.any(p < p[k], axis=1)
        front.append(not bool(dominated.any()))
    return front


def compact(value: Any) -> Any:
    """A cell for the page: six significant digits (the file stays small), text as text."""
    kind = type(value)
    # The common cases first, by exact type: this runs for every cell of the table.
    if kind is float:
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if value is None or kind is int or kind is str:
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if is_number(value):
        return compact(float(value)) if not isinstance(value, int) else int(value)
    return str(value)


def sample(
    header: Mapping[str, Any], trials: Sequence[Record], cap: int = CHART_CAP
) -> list[Record]:
    """At most ``cap`` trials in id order: the best ``BEST_KEPT``, then a seeded draw."""
    if len(trials) <= cap:
        return list(trials)
    best = ranked(dict(header), trials)[:BEST_KEPT]
    keep = {t["id"] for t in best}
    rest = [t for t in trials if t["id"] not in keep]
    keep |= {t["id"] for t in random.Random(0).sample(rest, cap - len(keep))}
    return [t for t in trials if t["id"] in keep]


def unit_to_value(dist: Distribution, u: float) -> float:
    """The continuous value at ``u`` in ``[0, 1]`` (no rounding to a step): contour cell edges."""
    if isinstance(dist, Categorical):
        raise TypeError("categorical values have no continuous position")
    low, high = float(dist.low), float(dist.high)
    if dist.log:
        return float(np.exp(np.log(low) + u * (np.log(high) - np.log(low))))
    return low + u * (high - low)


def build(
    sweep_dir: Path, header: Mapping[str, Any], trials: Sequence[Record], imp: Importance | None
) -> dict[str, Any]:
    """Everything the page draws, as plain JSON data."""
    names = param_names(dict(header), trials)
    space = _space(header, names)
    metric_names = sorted(
        {k for t in trials for k, v in (t.get("metrics") or {}).items() if is_number(v)}
    )
    shown_metrics = metric_names[:MAX_METRICS]
    fidelity = rungs.is_multi_fidelity(trials)
    columns: dict[str, list[Any]] = {"id": [], "state": [], "value": []}
    if fidelity:
        columns["budget"] = []
    params: dict[str, list[Any]] = {n: [] for n in names}
    metrics: dict[str, list[Any]] = {m: [] for m in shown_metrics}
    for t in trials:
        columns["id"].append(t.get("id"))
        columns["state"].append(t.get("state"))
        columns["value"].append(compact(t.get("value")))
        if fidelity:
            columns["budget"].append(rungs.budget(t))
        active = active_params(t)  # once per trial: this loop runs over every trial
        for n in names:
            params[n].append(compact(active.get(n)))
        values = t.get("metrics") or {}
        for m in shown_metrics:
            metrics[m].append(compact(values.get(m)))
    chart = sample(header, trials)
    objective, direction = objectives(header)[0]
    return {
        "meta": _meta(header, trials, len(chart), len(metric_names) - len(shown_metrics)),
        "params": [_param_info(n, space.get(n)) for n in names],
        "columns": columns,
        "param_columns": params,
        "metric_columns": metrics,
        "sample": [t["id"] for t in chart],
        "best_so_far": _best_so_far(header, trials),
        "importance": _importance(imp),
        "slices": _slices(imp),
        "contours": _contours(imp, chart),
        "curves": _curves(sweep_dir, header, trials, objective),
        "pareto": _pareto(header, trials),
        "objective": objective,
        "direction": direction,
    }


def _space(header: Mapping[str, Any], names: Sequence[str]) -> dict[str, Distribution]:
    space = {}
    for name in names:
        try:
            space[name] = from_json((header.get("space") or {})[name])
        except (KeyError, TypeError, ValueError):
            continue  # a name only trials carry: drawn as it comes
    return space


def _param_info(name: str, dist: Distribution | None) -> dict[str, Any]:
    if isinstance(dist, Categorical):
        return {"name": name, "type": "categorical", "choices": [str(c) for c in dist.choices]}
    if dist is None:
        return {"name": name, "type": "unknown"}
    kind = "float" if isinstance(dist, Float) else "int"
    return {"name": name, "type": kind, "low": dist.low, "high": dist.high, "log": dist.log}


def _meta(header: Mapping[str, Any], trials: Sequence[Record], drawn: int, hidden: int) -> dict:
    from hpfw.sweeper.reports import best_trial, reproduce_command

    best = best_trial(dict(header), trials)
    found = counts(trials)
    return {
        "strategy": header.get("strategy"),
        "created": header.get("created"),
        "n_trials": len(trials),
        "counts": found,
        "drawn": drawn,
        "best_kept": BEST_KEPT,
        "hidden_metrics": hidden,
        "multi_fidelity": rungs.is_multi_fidelity(trials),
        "best": None
        if best is None
        else {
            "id": best["id"],
            "value": compact(best["value"]),
            "command": reproduce_command(dict(header), best),
        },
    }


def _best_so_far(header: Mapping[str, Any], trials: Sequence[Record]) -> list[list[Any]]:
    """``[id, best value]`` where the best changed, and the last id (the line's end)."""
    better = (lambda a, b: a > b) if maximize(dict(header)) else (lambda a, b: a < b)
    points: list[list[Any]] = []
    best = None
    done = sorted(completed(trials), key=lambda t: t["id"])
    for t in done:
        if best is None or better(t["value"], best):
            best = t["value"]
            points.append([t["id"], compact(best)])
    if done and points[-1][0] != done[-1]["id"]:
        points.append([done[-1]["id"], compact(best)])
    return points


def _importance(imp: Importance | None) -> dict[str, Any] | None:
    if imp is None:
        return None
    from hpfw.sweeper.importance import describe

    return {
        "main": [[n, round(imp.main[n], 4)] for n in imp.names],
        "pairs": [[a, b, round(v, 4)] for (a, b), v in imp.pairs.items()],
        "skipped": imp.skipped,
        "note": describe(imp, []),
    }


def _slices(imp: Importance | None) -> dict[str, list[list[float]]]:
    """Per numeric parameter: the forest's predicted objective along it, others averaged."""
    if imp is None:
        return {}
    curves = {}
    u = np.linspace(0.0, 1.0, SLICE_POINTS)
    for name, dist in imp.dists.items():
        if isinstance(dist, Categorical):
            units = np.array([dist.to_unit(c) for c in dist.choices])
            ys = imp.forest.marginal_at((imp.column(name),), units[:, None])
            curves[name] = [
                [str(c), compact(float(y))] for c, y in zip(dist.choices, ys, strict=True)
            ]
            continue
        ys = imp.forest.marginal_at((imp.column(name),), u[:, None])
        curves[name] = [
            [compact(unit_to_value(dist, a)), compact(float(b))] for a, b in zip(u, ys, strict=True)
        ]
    return curves


def _contours(imp: Importance | None, chart: Sequence[Record]) -> list[dict[str, Any]]:
    """The forest's surface over each of the top pairs (others averaged out)."""
    if imp is None:
        return []
    pairs = sorted(
        imp.pairs,
        key=lambda p: -(imp.main[p[0]] + imp.main[p[1]] + imp.pairs[p]),
    )
    out = []
    for a, b in pairs:
        axes = [_grid(imp.dists[a]), _grid(imp.dists[b])]
        ua, ub = np.meshgrid(axes[0][0], axes[1][0], indexing="ij")
        points = np.column_stack([ua.ravel(), ub.ravel()])
        values = imp.forest.marginal_at((imp.column(a), imp.column(b)), points)
        cells = []
        for k, v in enumerate(values):
            i, j = divmod(k, len(axes[1][0]))
            cells.append([axes[0][1][i], axes[1][1][j], compact(float(v))])
        out.append({"x": a, "y": b, "cells": cells, "share": round(imp.pairs[(a, b)], 4)})
    return out


def _grid(dist: Distribution) -> tuple[np.ndarray, list[Any]]:
    """Cell centres in the unit interval, and each cell as a label or ``[from, to]``."""
    if isinstance(dist, Categorical):
        centres = np.array([dist.to_unit(c) for c in dist.choices])
        return centres, [str(c) for c in dist.choices]
    edges = np.linspace(0.0, 1.0, GRID + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    return centres, [
        [compact(unit_to_value(dist, e0)), compact(unit_to_value(dist, e1))]
        for e0, e1 in pairwise(edges)
    ]


def _curves(
    sweep_dir: Path, header: Mapping[str, Any], trials: Sequence[Record], objective: str
) -> dict:
    """Intermediate values of at most ``CURVE_CAP`` trials: the best first, then a draw."""
    pool = sample(header, [t for t in trials if t.get("state") != "running"], CURVE_CAP)
    rows: list[list[Any]] = []
    name = None
    for t in pool:
        curve = intermediate_values(sweep_dir, t, objective)
        if curve is None:
            continue
        name, steps = curve
        rows.extend([t["id"], step, compact(v)] for step, v in steps.items())
    return {"name": name, "rows": rows, "of": len(trials)}


def _pareto(header: Mapping[str, Any], trials: Sequence[Record]) -> dict[str, Any] | None:
    objs = objectives(header)
    if len(objs) < 2:
        return None
    (a, da), (b, db) = objs[:2]
    points = []
    for t in trials:
        m = t.get("metrics") or {}
        if t.get("state") == "complete" and is_finite(m.get(a)) and is_finite(m.get(b)):
            points.append((t["id"], float(m[a]), float(m[b])))
    front = pareto_front([p[1:] for p in points], [da, db]) if points else []
    return {
        "x": a,
        "y": b,
        "directions": [da, db],
        "rows": [
            [i, compact(x), compact(y), f] for (i, x, y), f in zip(points, front, strict=True)
        ],
    }
