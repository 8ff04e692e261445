"""Helpers shared by every model family: activation lookup, traced-rate dropout, config access."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.errors import ConfigError
from hpfw.values import plain

ActivationFn = Callable[[jax.Array], jax.Array]

ACTIVATIONS: dict[str, ActivationFn] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
}


def option(cfg: Any, name: str, default: Any = None) -> Any:
    """Read ``cfg.name`` from a DictConfig, a dataclass or a mapping, with enums made plain."""
    if isinstance(cfg, dict):
        return plain(cfg.get(name, default))
    return plain(getattr(cfg, name, default))


def activation(name: Any) -> ActivationFn:
    """Look up an activation function by name (or ``Activation`` member)."""
    key = plain(name)
    try:
        return ACTIVATIONS[key]
    except (KeyError, TypeError):
        raise ConfigError(
            "model.activation", f"got {key!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


class RowKey(NamedTuple):
    """A dropout key for a slice of a batch: ``first_row`` is the slice's first row in it.

    A trial whose batch is trained as micro-batches (docs/structural.md) passes
    one to its model, so each micro-batch drops the units its rows drop in the
    whole batch of a dedicated program.
    """

    key: jax.Array
    first_row: jax.Array


# A dropout key: a JAX PRNG key, or a uint32 seed (``step_seed``), either of them
# optionally with the batch row it starts at (``RowKey``).
DropoutKey = jax.Array | RowKey

# An odd constant that spreads consecutive indices (steps, sites) apart before hashing.
_INDEX_MULTIPLIER = np.uint32(0x85EBCA77)


def is_prng_key(key: jax.Array) -> bool:
    """Whether ``key`` is a JAX PRNG key, typed or raw (``uint32[2]``), rather than a seed.

    A seed (``step_seed``, ``hpfw.models.masked.sites``) is a scalar uint32.
    """
    return not (key.dtype == jnp.uint32 and key.ndim == 0)


def as_seed(key: jax.Array) -> jax.Array:
    """``key`` as a scalar uint32 seed: a PRNG key's bits, or the seed itself."""
    return jax.random.bits(key, (), jnp.uint32) if is_prng_key(key) else key


def hash_index(seed: jax.Array, index: int | jax.Array) -> jax.Array:
    """The seed of item ``index`` (a step, a dropout or weight site) under ``seed``: one hash."""
    return fmix(seed + (jnp.asarray(index, jnp.uint32) + 1) * _INDEX_MULTIPLIER)


def step_seed(key: jax.Array, step: jax.Array | int) -> jax.Array:
    """The uint32 dropout seed of training step ``step``: ``key``'s bits hashed with the step.

    A trainer passes this rather than ``fold_in(key, step)``: each threefry call
    (a fold-in per dropout site and the bits of each mask) compiled to a small
    loop of its own in every step, and hashing them took the MLP envelope's
    kernels from 607 to 416 (docs/structural.md); dropout masks need no
    cryptographic generator (``uniform_hash``).
    """
    return hash_index(as_seed(key), step)


def site_key(key: DropoutKey | None, index: int) -> DropoutKey | None:
    """A key for dropout site ``index``, or None in evaluation.

    Folding in the site index gives every site its own mask from one model key,
    so two sites with the same shape never drop the same units. A PRNG key is
    folded with threefry, a seed is hashed.
    """
    if key is None:
        return None
    if isinstance(key, RowKey):
        return key._replace(key=site_key(key.key, index))
    if is_prng_key(key):
        return jax.random.fold_in(key, index)
    return hash_index(key, index)


def fmix(h: jax.Array) -> jax.Array:
    """murmur3's 32-bit finaliser: every input bit flips about half the output bits."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def uniform_hash(
    key: jax.Array, shape: tuple[int, ...], first_row: jax.Array | int = 0
) -> jax.Array:
    """Uniform floats in [0, 1): a seed (``key``, or a PRNG key's bits) hashed with positions.

    ``jax.random.uniform`` runs threefry for every element, which costs about a
    third of a small MLP's training step on a CPU. Dropout masks need no
    cryptographic quality, so one random 32-bit seed per call is mixed with the
    element's position by murmur3's finaliser, which is well distributed and
    nearly free. Deterministic for a given key, like any JAX random function.

    The position is (row, unit): the leading axes (batch row, token) are hashed
    first and the last axis (the unit) into that, so an element's value does not
    depend on how many units or rows the array has. A trial padded into a wider
    or taller envelope (docs/structural.md) drops exactly the units its own
    program drops. ``first_row`` shifts the leading axis: the array is rows
    ``first_row, first_row + 1, ...`` of a larger batch.
    """
    seed = as_seed(key)
    rows = math.prod(shape[:-1])
    offset = jnp.asarray(first_row, jnp.uint32) * jnp.uint32(math.prod(shape[1:-1]))
    row = (jnp.arange(rows, dtype=jnp.uint32) + offset).reshape((*shape[:-1], 1))
    row = fmix(row * jnp.uint32(0x9E3779B1) + seed)
    unit = jnp.arange(shape[-1], dtype=jnp.uint32)
    h = fmix(row + unit * jnp.uint32(0x7FEB352D))
    return (h >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def dropout(x: jax.Array, rate: float | jax.Array, key: DropoutKey | None) -> jax.Array:
    """Inverted dropout whose ``rate`` may be a traced scalar.

    ``nnx.Dropout`` stores the rate as a Python float and branches on it, so each
    rate would compile its own program; here the rate is data, and one compiled
    program serves every rate a sweep tries. ``key=None`` means evaluation.
    """
    if key is None:
        return x
    keep = 1.0 - jnp.asarray(rate, dtype=jnp.float32)
    key, first_row = key if isinstance(key, RowKey) else (key, 0)
    mask = uniform_hash(key, x.shape, first_row) < keep
    # Guard the scale rather than dividing by keep: at rate=1 the division would
    # give inf/NaN, and jnp.where still propagates NaN into the gradient of the
    # branch it did not take.
    scale = jnp.where(keep > 0, 1.0 / jnp.maximum(keep, 1e-12), 0.0)
    # A traced float32 rate would otherwise promote bfloat16 activations.
    scaled = (x * scale).astype(x.dtype)
    return jnp.where(mask, scaled, jnp.zeros_like(x))
