"""The optimiser step of a padded program, leaving alone the layers a trial does not have.

A program compiled for an envelope holds the weights of its deepest trial. A
shallower trial skips the extra layers in its forward pass (``lax.cond``), but
an optimiser step over the whole parameter tree would still read and write
their weights and moments every step: zeros in, zeros out, yet on a CPU that
memory traffic was most of a padded step (a one-layer trial in the 512-wide,
four-layer box of the seed-wide MLP sweep stepped ~30x slower than on its own
program, docs/structural.md). Here the step runs per layer: each layer some
trials skip is updated by a loop that runs once or not at all, by the
trial's depth, the rest as before. The arithmetic is the optimiser's own, leaf by leaf, so a trial's
updates are the same numbers; clipping by global norm is taken over the whole
tree first (a skipped layer's gradients are zero, so its norm is the trial's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

# The model attributes that hold a list of layers, and the depth that decides which run.
LAYER_LISTS = {"hidden": "num_layers", "blocks": "num_layers", "convs": "num_conv_layers"}


def layer_groups(
    params: Any, ranges: Mapping[str, tuple[int, int]], structure: Mapping[str, Any]
) -> tuple[list[Any], dict[Any, Any]] | None:
    """``(group of each leaf, flag of each skippable group)``, or None when no layer is skipped.

    A leaf's group is None when every trial of the program has it, else
    ``(list name, layer index)``, whose flag is the traced "this trial has it".
    """
    groups: list[Any] = []
    flags: dict[Any, Any] = {}
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        group = None
        if len(path) >= 2:
            depth = LAYER_LISTS.get(getattr(path[0], "key", None))
            index = getattr(path[1], "key", None)
            if depth in ranges and isinstance(index, int) and index >= ranges[depth][0]:
                group = (path[0].key, index)
                if group not in flags:
                    flags[group] = jnp.asarray(structure[depth]) > index
        groups.append(group)
    return (groups, flags) if flags else None


def live_step(
    tx: optax.GradientTransformation,
    clip: bool | jax.Array,
    clip_norm: jax.Array,
    grads: Any,
    state: dict[str, Any],
    params: Any,
    groups: tuple[list[Any], dict[Any, Any]],
) -> tuple[Any, dict[str, Any]]:
    """``(params, state)`` after one step of ``tx`` (built without clipping: done here).

    The leaves of a layer the trial skips keep their weights and moments, and
    are not read: not by the update, nor by the clipping's global norm.
    """
    leaves, treedef = jax.tree.flatten(grads)
    weights = treedef.flatten_up_to(params)
    moments = {k: treedef.flatten_up_to(v) for k, v in state.items() if k != "count"}
    group_of, flags = groups
    members: dict[Any, list[int]] = {}
    for i, group in enumerate(group_of):
        members.setdefault(group, []).append(i)
    clip_leaf = _clipping(clip, clip_norm, leaves, members, flags)
    new_weights, new_moments = list(weights), {k: list(v) for k, v in moments.items()}
    for group, idx in members.items():
        args = (
            [leaves[i] for i in idx],
            {k: [v[i] for i in idx] for k, v in moments.items()},
            [weights[i] for i in idx],
        )

        def run(args: tuple) -> tuple[list[Any], dict[str, list[Any]]]:
            g, m, w = args
            g = [clip_leaf(t) for t in g]
            updates, after = tx.update(g, {"count": state["count"], **m}, w)
            return optax.apply_updates(w, updates), {k: after[k] for k in m}

        def once(_: jax.Array, args: tuple) -> tuple:
            weights, moments = run(args)
            return args[0], moments, weights

        if group is None:
            out = run(args)
        else:
            # A loop of 0 or 1 iterations, not ``lax.cond``: XLA:CPU copied the skipped
            # layer's weights and moments through a conditional's "keep" branch every
            # step (a 512-wide one-layer trial in the seed-wide box ran at 6.5x its own
            # program's time), while a loop updates its carry in place.
            _, moments_out, weights_out = jax.lax.fori_loop(
                0, flags[group].astype(jnp.int32), once, args
            )
            out = weights_out, moments_out
        for j, i in enumerate(idx):
            new_weights[i] = out[0][j]
            for k in new_moments:
                new_moments[k][i] = out[1][k][j]
    new_state = {"count": optax.safe_increment(state["count"])}
    new_state |= {k: treedef.unflatten(v) for k, v in new_moments.items()}
    return treedef.unflatten(new_weights), new_state


def _clipping(
    clip: bool | jax.Array,
    clip_norm: jax.Array,
    leaves: list[jax.Array],
    members: Mapping[Any, list[int]],
    flags: Mapping[Any, Any],
) -> Any:
    """``leaf -> leaf`` clipped by the global norm, as ``optax.clip_by_global_norm`` clips.

    The norm sums the groups the trial has (a skipped layer's gradients are zero,
    so the norm is the same, without reading them).
    """
    if clip is False:
        return lambda t: t

    def squares(group_leaves: list[jax.Array]) -> jax.Array:
        return sum((jnp.sum(jnp.square(x)) for x in group_leaves), jnp.float32(0.0))

    total = jnp.float32(0.0)
    for group, idx in members.items():
        part = [leaves[i] for i in idx]
        if group is None:
            total = total + squares(part)
        else:
            total = total + jax.lax.cond(flags[group], squares, lambda _: jnp.float32(0.0), part)
    norm = jnp.sqrt(total)

    def clip_leaf(t: jax.Array) -> jax.Array:
        clipped = jax.lax.select(norm < clip_norm, t, (t / norm.astype(t.dtype)) * clip_norm)
        return clipped if clip is True else jnp.where(clip, clipped, t)

    return clip_leaf
