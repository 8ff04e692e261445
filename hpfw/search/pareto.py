"""Pareto dominance on objective vectors: non-dominated sorting, crowding and hypervolume.

Pure numpy, every vector "lower is better" (``as_minimized`` flips the
objectives a sweep maximises). Hand-written rather than taken from a library:
the candidates (pymoo, Optuna's private ``_hypervolume``) are heavy or not
public API, and the algorithms are short and pinned by a table of cases
(tests/test_pareto.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Vectors = np.ndarray  # [n, m]: n points, m objectives, lower is better


def as_minimized(values: Sequence[Sequence[float]], directions: Sequence[str]) -> Vectors:
    """``values`` (one row per point, in each objective's direction) as lower-is-better."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    array = np.asarray(values, dtype=float).reshape(-1, len(signs))
    return array * signs


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` is no worse than ``b`` everywhere and better somewhere."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a <= b) and np.any(a < b))


def _dominance(points: Vectors) -> np.ndarray:
    """``[i, j]`` is true when point i dominates point j."""
    le = np.all(points[:, None, :] <= points[None, :, :], axis=-1)
    lt = np.any(points[:, None, :] < points[None, :, :], axis=-1)
    return le & lt


def front_ranks(points: Sequence[Sequence[float]]) -> np.ndarray:
    """Each point's non-dominated front: 0 for the Pareto front, 1 for the next, ...

    Fast non-dominated sorting (Deb et al. 2002): a point's front is one past
    the deepest front among the points that dominate it. Equal points share a
    front (neither dominates the other).
    """
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    dominated_by = _dominance(pts)  # [i, j]: i dominates j
    count = dominated_by.sum(axis=0)  # how many points dominate each point
    current = np.flatnonzero(count == 0)
    level = 0
    while len(current):
        ranks[current] = level
        count = count - dominated_by[current].sum(axis=0)
        count[ranks >= 0] = -1
        current = np.flatnonzero(count == 0)
        level += 1
    return ranks


def pareto_front(points: Sequence[Sequence[float]]) -> np.ndarray:
    """The indices of the non-dominated points, in input order."""
    return np.flatnonzero(front_ranks(points) == 0)


def crowding_distance(points: Sequence[Sequence[float]]) -> np.ndarray:
    """NSGA-II's crowding distance within one front: inf at each objective's extremes."""
    pts = np.asarray(points, dtype=float)
    n, m = pts.shape if pts.ndim == 2 else (len(pts), 0)
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(pts[:, k], kind="stable")
        span = pts[order[-1], k] - pts[order[0], k]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            gaps = (pts[order[2:], k] - pts[order[:-2], k]) / span
            distance[order[1:-1]] += gaps
    return distance


def order(points: Sequence[Sequence[float]]) -> np.ndarray:
    """Indices best first: by front, then by crowding distance (larger first), then index.

    What successive halving promotes with several objectives: the Pareto front
    first, its spread-out points before its crowded ones.
    """
    pts = np.asarray(points, dtype=float)
    if len(pts) == 0:
        return np.zeros(0, dtype=int)
    ranks = front_ranks(pts)
    crowd = np.zeros(len(pts))
    for level in np.unique(ranks):
        members = np.flatnonzero(ranks == level)
        crowd[members] = crowding_distance(pts[members])
    return np.array(sorted(range(len(pts)), key=lambda i: (ranks[i], -crowd[i], i)), dtype=int)


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (lower is better).

    Points not strictly better than the reference in every objective add
    nothing. Exact: a sweep in 2-D, slices along the last objective above
    (Hypervolume by Slicing Objectives; fine for the few hundred points of a
    sweep's front in 3-4 objectives).
    """
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[pareto_front(pts)]
    return float(_hv(np.unique(pts, axis=0), ref))


def _hv(pts: Vectors, ref: np.ndarray) -> float:
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 2:
        pts = pts[np.argsort(pts[:, 0], kind="stable")]
        volume, best_y = 0.0, ref[1]
        for x, y in pts:
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return volume
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    volume = 0.0
    for i in range(len(pts)):
        top = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        depth = top - pts[i, -1]
        if depth > 0:
            layer = pts[: i + 1, :-1]
            volume += depth * _hv(layer[pareto_front(layer)], ref[:-1])
    return volume


def reference_point(points: Vectors, margin: float = 0.1) -> np.ndarray:
    """A reference point just beyond the worst of ``points`` in every objective."""
    worst, best = points.max(axis=0), points.min(axis=0)
    span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
    return worst + margin * span
