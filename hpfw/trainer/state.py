"""Trainer states moved between a trial's own shapes and an envelope program's padded shapes.

Checkpoints hold a trial's own shapes (its dedicated program's state), so a
checkpoint does not depend on the envelope that trained it: a promotion in
Hyperband continues it in whatever program its new rung runs on, and a
single run continues it without an envelope. In an envelope program's state
every entry outside a trial's own sizes is zero and stays zero (inactive
weights start at zero and get zero gradients; the optimiser moments of
families a trial does not use stay at their initial zeros), so cutting a
padded state down and padding an own state back with zeros lose nothing.

Leaves are matched by their path in the state (``params/hidden/1/kernel``,
``opt_state/adam/2/0/mu/...``): the models and the optimiser keep the path of
every leaf the same whatever the envelope (models/masked.py, trainer/optim.py).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _fit(leaf: Any, target: Any) -> Any:
    """``leaf`` cut or zero-padded (at the end of each axis) to ``target``'s shape."""
    shape = tuple(target.shape)
    if tuple(leaf.shape) == shape:
        return leaf.astype(target.dtype)
    if len(leaf.shape) != len(shape):
        raise ValueError(f"a state leaf of shape {leaf.shape} cannot fit {shape}")
    xp = jnp if isinstance(leaf, jax.Array) else np
    cut = leaf[tuple(slice(0, min(a, b)) for a, b in zip(leaf.shape, shape, strict=True))]
    pad = [(0, max(b - a, 0)) for a, b in zip(cut.shape, shape, strict=True)]
    return xp.pad(cut, pad).astype(target.dtype)


def fit_state(state: Any, target: Any) -> Any:
    """``state`` with ``target``'s structure and shapes (``target``: arrays or shape structs).

    Leaves of ``target`` that ``state`` lacks (layers, or optimiser families,
    the other program does not have) are zeros; leaves only ``state`` has are
    dropped.
    """
    flat_state, _ = jax.tree_util.tree_flatten_with_path(state)
    by_path = {jax.tree_util.keystr(path): leaf for path, leaf in flat_state}
    flat_target, treedef = jax.tree_util.tree_flatten_with_path(target)
    leaves = []
    for path, want in flat_target:
        leaf = by_path.get(jax.tree_util.keystr(path))
        if leaf is None:
            leaves.append(np.zeros(want.shape, want.dtype))
        else:
            leaves.append(_fit(leaf, want))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def zeros_like_abstract(target: Any) -> Any:
    """Host zeros in ``target``'s shapes (a start state for trials that start fresh)."""
    return jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), target)
