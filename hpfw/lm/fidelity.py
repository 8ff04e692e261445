"""The sampler's next-token distribution (temperature -> top-p -> top-k) and its fidelity.

Written out rather than taken from a library: the sampling libraries apply
these filters to logits for one draw, while the fidelity objective needs the
whole filtered distribution, exactly, with every setting a traced value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def next_token_distribution(
    logits: jax.Array, temperature: jax.Array, top_p: jax.Array, top_k: jax.Array
) -> jax.Array:
    """The distribution a sampler draws from, over the last axis of ``logits``.

    1. temperature: ``softmax(logits / temperature)``;
    2. top-p (nucleus): keep the smallest set of most likely tokens whose
       probability reaches ``top_p`` (``top_p >= 1`` keeps every token);
    3. top-k: of those, keep at most the ``top_k`` most likely (0 = no limit);
    then renormalise. All three settings may be traced scalars.
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32) / temperature, axis=-1)
    order = jnp.argsort(-probs, axis=-1, stable=True)  # most likely first
    ranks = jnp.argsort(order, axis=-1)  # each token's place in that order
    sorted_probs = jnp.take_along_axis(probs, order, axis=-1)
    mass_before = jnp.cumsum(sorted_probs, axis=-1) - sorted_probs
    # A token is in the nucleus when the tokens ranked above it have not yet
    # reached top_p. top_p >= 1 keeps everything outright: float rounding of the
    # cumulative sum could otherwise drop a last, tiny token.
    in_nucleus = (mass_before < top_p) | (top_p >= 1.0)
    in_top_k = (jnp.arange(probs.shape[-1]) < top_k) | (top_k <= 0)
    keep = jnp.take_along_axis(in_nucleus & in_top_k, ranks, axis=-1)
    kept = jnp.where(keep, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def total_variation(p: jax.Array, q: jax.Array) -> jax.Array:
    """Total-variation distance between distributions on the last axis: in [0, 1]."""
    return 0.5 * jnp.abs(p - q).sum(axis=-1)
