"""Functional ANOVA over a random forest: the share of variance each input explains.

fANOVA (Hutter, Hoos and Leyton-Brown, ICML 2014) splits the variance of a
function over the unit cube into the variance of its main effects (one input
at a time, the others averaged out), of its pairwise interactions, and so on.
For a regression tree the averaging is exact and cheap: every leaf is a box,
so the marginal of a subset U of inputs at ``x_U`` is the sum, over the leaves
whose box covers ``x_U``, of the leaf's value times the volume of its box in
the other inputs. A forest's importances are the per-tree fractions, averaged.

Written here rather than imported: scikit-learn fits the forest but has no
fANOVA; the ``fanova`` package needs pyrfr (a C++ build, no current wheels);
Optuna's evaluator would make Optuna a core dependency. The decomposition over
scikit-learn's tree arrays is about a hundred lines of numpy.

Inputs must be encoded so that the uniform measure on ``[0, 1]`` is the
measure the importances are taken under (``hpfw.sweeper.importance`` does that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_TREES = 64  # as Optuna's fANOVA evaluator: enough trees for stable averages
MAX_DEPTH = 64


@dataclass(frozen=True)
class Tree:
    """A fitted tree as boxes: each leaf's bounds in the unit cube and its value."""

    lower: np.ndarray  # [leaves, inputs]
    upper: np.ndarray  # [leaves, inputs]
    value: np.ndarray  # [leaves]
    edges: tuple[np.ndarray, ...]  # per input: 0, the tree's thresholds on it, 1 (sorted)
    mean: float
    variance: float

    @property
    def widths(self) -> np.ndarray:
        return self.upper - self.lower


def boxes(estimator: object, n_inputs: int) -> Tree:
    """A scikit-learn regression tree as leaf boxes (left child: ``x <= threshold``)."""
    tree = estimator.tree_  # type: ignore[attr-defined]
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, np.clip(tree.threshold, 0.0, 1.0)
    n = tree.node_count
    lower = np.zeros((n, n_inputs))
    upper = np.ones((n, n_inputs))
    # Parents come before children in scikit-learn's arrays, but a Python loop
    # over thousands of nodes is slow: walk the tree a level at a time instead.
    level = np.array([0])
    while level.size:
        inner = level[left[level] >= 0]
        if not inner.size:
            break
        f, t = feature[inner], threshold[inner]
        lo, hi = left[inner], right[inner]
        for child in (lo, hi):
            lower[child] = lower[inner]
            upper[child] = upper[inner]
        upper[lo, f] = t
        lower[hi, f] = t
        level = np.concatenate([lo, hi])
    leaf = left < 0
    lo_, up_ = lower[leaf], upper[leaf]
    value = tree.value[leaf].reshape(-1)
    volume = np.prod(up_ - lo_, axis=1)
    mean = float(volume @ value)
    variance = float(volume @ (value - mean) ** 2)
    edges = tuple(
        np.unique(np.concatenate([[0.0, 1.0], threshold[(left >= 0) & (feature == d)]]))
        for d in range(n_inputs)
    )
    return Tree(lo_, up_, value, edges, mean, variance)


def _rest_weight(tree: Tree, dims: tuple[int, ...]) -> np.ndarray:
    """Each leaf's value times its box's volume in the inputs outside ``dims``."""
    widths = tree.widths.copy()
    widths[:, list(dims)] = 1.0
    return tree.value * np.prod(widths, axis=1)


def marginal(tree: Tree, dims: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The marginal over ``dims`` (one or two inputs) on the tree's cells, and their measure.

    Each leaf adds its weight to the block of cells its box covers: a
    difference array and a cumulative sum do that in time linear in leaves
    plus cells, where a cells-by-leaves mask would be quadratic.
    """
    weight = _rest_weight(tree, dims)
    index = [
        (
            np.searchsorted(tree.edges[d], tree.lower[:, d]),
            np.searchsorted(tree.edges[d], tree.upper[:, d]),
        )
        for d in dims
    ]
    shape = tuple(len(tree.edges[d]) for d in dims)  # cells + 1 per dim
    diff = np.zeros(shape)
    if len(dims) == 1:
        ((lo, hi),) = index
        np.add.at(diff, lo, weight)
        np.add.at(diff, hi, -weight)
        values = np.cumsum(diff)[:-1]
        measure = np.diff(tree.edges[dims[0]])
    else:
        (lo1, hi1), (lo2, hi2) = index
        np.add.at(diff, (lo1, lo2), weight)
        np.add.at(diff, (lo1, hi2), -weight)
        np.add.at(diff, (hi1, lo2), -weight)
        np.add.at(diff, (hi1, hi2), weight)
        values = np.cumsum(np.cumsum(diff, axis=0), axis=1)[:-1, :-1]
        measure = np.outer(np.diff(tree.edges[dims[0]]), np.diff(tree.edges[dims[1]]))
    return values, measure


def marginal_variance(tree: Tree, dims: tuple[int, ...]) -> float:
    values, measure = marginal(tree, dims)
    return float(np.sum(measure * (values - tree.mean) ** 2))


def marginal_at(tree: Tree, dims: tuple[int, ...], points: np.ndarray) -> np.ndarray:
    """The marginal over ``dims`` at ``points`` ([n, len(dims)] in the unit cube)."""
    values, _ = marginal(tree, dims)
    cells = []
    for k, d in enumerate(dims):
        # A leaf holds lower < x <= upper, so a point on an edge belongs to the cell below.
        c = np.searchsorted(tree.edges[d], points[:, k], side="left") - 1
        cells.append(np.clip(c, 0, len(tree.edges[d]) - 2))
    return values[tuple(cells)]


@dataclass(frozen=True)
class Forest:
    """A fitted forest's trees as boxes; importances are averages over its trees."""

    trees: tuple[Tree, ...]
    n_inputs: int
    _main: dict[int, list[float]] = field(default_factory=dict, compare=False, repr=False)

    def _useful(self) -> list[Tree]:
        # A tree that predicts a constant explains nothing and divides by zero.
        return [t for t in self.trees if t.variance > 1e-300]

    def main_effects(self) -> np.ndarray:
        """Per input: the fraction of variance its main effect explains (mean over trees)."""
        trees = self._useful()
        if not trees:
            return np.zeros(self.n_inputs)
        return np.array([np.mean(self._shares(d)) for d in range(self.n_inputs)])

    def _shares(self, d: int) -> list[float]:
        """Per useful tree: the share of its variance input ``d``'s main effect explains."""
        if d not in self._main:  # interactions subtract these again: compute them once
            self._main[d] = [marginal_variance(t, (d,)) / t.variance for t in self._useful()]
        return self._main[d]

    def interaction(self, i: int, j: int) -> float:
        """The fraction of variance the pure interaction of inputs ``i`` and ``j`` explains."""
        trees = self._useful()
        if not trees:
            return 0.0
        shares = [
            marginal_variance(t, (i, j)) / t.variance - si - sj
            for t, si, sj in zip(trees, self._shares(i), self._shares(j), strict=True)
        ]
        return max(0.0, float(np.mean(shares)))  # rounding can dip just below zero

    def marginal_at(self, dims: tuple[int, ...], points: np.ndarray) -> np.ndarray:
        """The forest's predicted objective at ``points`` with the other inputs averaged out."""
        return np.mean([marginal_at(t, dims, points) for t in self.trees], axis=0)


def fit(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Forest:
    """Fits a random forest to ``y`` over ``x`` (rows in ``[0, 1]^d``) and decomposes it."""
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(
        n_estimators=N_TREES,
        max_depth=MAX_DEPTH,
        min_samples_leaf=1,
        max_features=1.0,
        random_state=seed,
        n_jobs=1,  # sweeps share the machine with their trials
    )
    model.fit(x, y)
    return Forest(tuple(boxes(e, x.shape[1]) for e in model.estimators_), x.shape[1])


def pairs_of(items: list[int]) -> list[tuple[int, int]]:
    """Every unordered pair of ``items``, in order."""
    return [(a, b) for k, a in enumerate(items) for b in items[k + 1 :]]
