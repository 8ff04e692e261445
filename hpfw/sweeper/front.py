"""The Pareto front of a sweep with several objectives, from the journal's records.

Only complete, feasible trials (``reports.completed``) take part. Used by
best.yaml (each point with its reproduce command), the summary table,
``pareto.png``, the hypervolume curve in history.png and ``hpfw.load(dir).front``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpfw.search.pareto import as_minimized, hypervolume, pareto_front, reference_point
from hpfw.sweeper.objectives import Objectives

Record = dict[str, Any]


def is_multi(header: dict[str, Any]) -> bool:
    """Whether the sweep has several objectives."""
    return len(header.get("objectives") or {}) > 1


def scored(header: dict[str, Any], trials: Sequence[Record]) -> tuple[list[Record], np.ndarray]:
    """Complete feasible trials with every objective, and their lower-is-better vectors."""
    from hpfw.sweeper.reports import completed

    objectives = Objectives.from_header(header)
    kept, rows = [], []
    for trial in sorted(completed(trials), key=lambda t: t["id"]):
        vector = objectives.vector(trial)
        if vector is not None:
            kept.append(trial)
            rows.append(vector)
    points = as_minimized(rows, objectives.directions) if rows else np.zeros((0, 0))
    return kept, points


def front(header: dict[str, Any], trials: Sequence[Record]) -> list[Record]:
    """The non-dominated trials, best first in the first objective (then by id)."""
    kept, points = scored(header, trials)
    if not kept:
        return []
    chosen = pareto_front(points)
    return sorted((kept[i] for i in chosen), key=lambda t: (_first(header, t), t["id"]))


def _first(header: dict[str, Any], trial: Record) -> float:
    value = float(trial["value"])
    return -value if header.get("direction") == "maximize" else value


def hypervolume_history(
    header: dict[str, Any], trials: Sequence[Record]
) -> tuple[list[int], list[float], list[float]]:
    """``(ids, hypervolume after each, reference point)`` over the feasible trials in id order.

    The reference point is 10% beyond the worst value of each objective among
    them (so the curve's scale is the sweep's own), in lower-is-better form.
    """
    kept, points = scored(header, trials)
    if not kept:
        return [], [], []
    reference = reference_point(points)
    ids, volumes = [], []
    for k in range(len(kept)):
        ids.append(kept[k]["id"])
        volumes.append(hypervolume(points[: k + 1], reference))
    return ids, volumes, [float(r) for r in reference]


def entries(header: dict[str, Any], trials: Sequence[Record]) -> list[dict[str, Any]]:
    """best.yaml's ``front``: each point's trial, values, params and reproduce command."""
    from hpfw.sweeper.reports import active_params, reproduce_command

    return [
        {
            "trial": t["id"],
            "values": dict(t.get("values") or {}),
            "params": active_params(t),
            "command": reproduce_command(header, t),
        }
        for t in front(header, trials)
    ]
