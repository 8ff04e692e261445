"""Layers over an envelope: weights sized for the largest trial, a trial's own sizes as masks.

A program compiled for an envelope (the largest widths and depths a sweep can
ask for) trains every smaller trial in it. Its weights have the envelope's
shapes; a trial's own widths are traced values, and everything outside them
holds zeros: the weights of inactive inputs and units start at zero, the
activations of inactive units are masked, so their gradients are exactly zero
and the optimiser never moves them.

Such a trial must train the same network as its own (dedicated) program, so a
weight must not depend on the sizes around it: each unit draws its weights
keyed by its position (the layer's key hashed with the unit's and the input's
indices, ``position_normals``), and the scale comes from the active fan-in.
``tests/test_structural.py`` checks dedicated and padded programs agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hpfw.models.conv import same_conv
from hpfw.models.layers import as_seed, fmix, hash_index

# flax's lecun_normal: a truncated normal on [-2, 2] rescaled to unit variance.
_TRUNCATED_STD = 0.87962566103423978
# erf(2 / sqrt(2)): the truncation points [-2, 2] on the scale that erf_inv inverts.
_ERF_TWO = 0.9544997361036416
# Odd constants that spread consecutive indices of each axis apart before hashing.
_AXIS_MULTIPLIERS = tuple(np.uint32(c) for c in (0x9E3779B1, 0x7FEB352D, 0x846CA68B, 0xCC9E2D51))

Ranges = Mapping[str, tuple[int, int]]


class Sizes:
    """A model's structural sizes: static ranges ``(lo, hi)`` and the trial's own values.

    ``value(name)`` is the trial's own size (traced in an envelope program, the
    static maximum otherwise); ``mask(name)`` is 1.0 over the active units of
    the ``hi``-wide axis and 0.0 beyond, or None when the size cannot vary.
    Built per call and never stored on a module: its values may be tracers.
    """

    def __init__(self, ranges: Ranges, values: Mapping[str, Any] | None = None) -> None:
        self.ranges = dict(ranges)
        self.values = dict(values or {})

    def hi(self, name: str) -> int:
        return self.ranges[name][1]

    def lo(self, name: str) -> int:
        return self.ranges[name][0]

    def varies(self, name: str) -> bool:
        lo, hi = self.ranges[name]
        return lo != hi

    def value(self, name: str) -> Any:
        if not self.varies(name):
            return self.hi(name)
        return self.values.get(name, self.hi(name))

    def mask(self, name: str) -> jax.Array | None:
        if not self.varies(name):
            return None
        return (jnp.arange(self.hi(name)) < self.value(name)).astype(jnp.float32)


def fixed_ranges(**values: int) -> dict[str, tuple[int, int]]:
    """Ranges that hold exactly ``values``: a dedicated program pads nothing."""
    return {name: (int(v), int(v)) for name, v in values.items()}


def apply_mask(x: jax.Array, mask: jax.Array | None) -> jax.Array:
    """``x`` with its last axis masked (``mask=None``: unchanged)."""
    return x if mask is None else x * mask.astype(x.dtype)


def _promote(x: jax.Array, *params: jax.Array) -> list[jax.Array]:
    """``x`` and ``params`` in their common dtype, as flax's layers compute (dtype=None)."""
    dtype = jnp.result_type(x, *params)
    return [a.astype(dtype) for a in (x, *params)]


def position_normals(key: jax.Array, shape: tuple[int, ...], truncated: bool) -> jax.Array:
    """Standard normals of ``shape`` (truncated to [-2, 2] if asked) keyed by each entry's position.

    ``key`` is a PRNG key or a uint32 seed (``sites``). Entry ``(i, j, ...)``
    depends on ``key`` and its indices only, never on ``shape``: a weight of a
    padded envelope equals the dedicated program's. One random seed per call is
    hashed with the indices, axis by axis (murmur3's finaliser, as
    ``hpfw.models.layers.uniform_hash`` does for dropout), and turned into a
    normal by the inverse CDF, as ``jax.random.truncated_normal`` does with its
    uniforms. Written here rather than taken from ``jax.random`` because a
    threefry draw per unit (``vmap`` over ``fold_in``) was about a third of an
    envelope program's compile time (docs/structural.md), and this is one
    elementwise kernel.
    """
    h = as_seed(key)
    for axis, n in enumerate(shape):
        index = jnp.arange(n, dtype=jnp.uint32) * _AXIS_MULTIPLIERS[axis % len(_AXIS_MULTIPLIERS)]
        h = fmix(h[..., None] + index)
    u = ((h >> 8).astype(jnp.float32) + 0.5) * (1.0 / (1 << 24))  # in (0, 1)
    lo, hi = (-_ERF_TWO, _ERF_TWO) if truncated else (-1.0, 1.0)
    return jnp.sqrt(2.0) * jax.lax.erf_inv(lo + u * (hi - lo))


def unit_weights(key: jax.Array, units: int, draw_shape: tuple[int, ...], fan_in: Any) -> jax.Array:
    """``[units, *draw_shape]`` lecun-normal weights (as ``nnx.Linear`` draws) keyed by position.

    ``draw_shape[0]`` is the axis whose active size is part of ``fan_in``.
    """
    draws = position_normals(key, (units, *draw_shape), truncated=True)
    std = jnp.sqrt(1.0 / jnp.asarray(fan_in, jnp.float32)) / _TRUNCATED_STD
    return draws * std


def _unless(weights: jax.Array, live: Any) -> jax.Array:
    """``weights``, or zeros where ``live`` is false: a layer a trial skips starts (and stays) 0.

    A skipped layer gets no gradient, but weight decay would still move
    non-zero weights and fill its optimiser moments.
    """
    if live is True:
        return weights
    return weights * jnp.asarray(live, weights.dtype)


def _outer(*masks: jax.Array | None, shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """The product of 1-D ``masks`` laid along ``axes`` of ``shape`` (1.0 when all None)."""
    total: Any = 1.0
    for mask, axis in zip(masks, axes, strict=True):
        if mask is not None:
            view = [1] * len(shape)
            view[axis] = shape[axis]
            total = total * mask.reshape(view)
    return total


class Dense(nnx.Module):
    """``x @ kernel + bias`` with kernel ``[n_in, *groups, n_out]``; inactive rows and units zero.

    ``groups`` adds fixed axes between input and output (``(3,)`` for a fused
    query/key/value projection, ``(H, W)`` spatial positions before the channels
    of a flattened feature map are written ``n_in`` last: see ``SpatialDense``).
    """

    def __init__(
        self,
        key: jax.Array,
        n_in: int,
        n_out: int,
        *,
        fan_in: Any,
        in_mask: jax.Array | None = None,
        out_mask: jax.Array | None = None,
        groups: tuple[int, ...] = (),
        live: Any = True,
    ) -> None:
        w = unit_weights(key, n_out, (n_in, *groups), fan_in)  # [n_out, n_in, *groups]
        w = jnp.moveaxis(w, 0, -1)  # [n_in, *groups, n_out]
        w = w * _outer(in_mask, out_mask, shape=w.shape, axes=(0, w.ndim - 1))
        w = _unless(w, live)
        self.kernel = nnx.Param(w)
        self.bias = nnx.Param(jnp.zeros((*groups, n_out), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.apply(x, self.kernel[...], self.bias[...])

    @staticmethod
    def apply(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
        x, kernel, bias = _promote(x, kernel, bias)
        # The last axis of x against the kernel's first: [..., n_in] -> [..., *groups, n_out].
        return jnp.tensordot(x, kernel, axes=1) + bias


class SpatialDense(nnx.Module):
    """A dense layer over a feature map ``[B, H, W, C]`` with kernel ``[H, W, C, n_out]``.

    Unflattened, so that the weight of channel ``c`` at a position keeps its
    place when the channel count is padded (a flattened ``H*W*C`` axis would
    interleave padded channels). Unit ``j`` draws ``(C, H, W)``: channels lead,
    since the channel count is the axis that varies.
    """

    def __init__(
        self,
        key: jax.Array,
        image: tuple[int, int, int],
        n_out: int,
        *,
        fan_in: Any,
        in_mask: jax.Array | None = None,
        out_mask: jax.Array | None = None,
        live: Any = True,
    ) -> None:
        h, w, c = image
        weights = unit_weights(key, n_out, (c, h, w), fan_in)  # [n_out, C, H, W]
        weights = jnp.transpose(weights, (2, 3, 1, 0))  # [H, W, C, n_out]
        weights = weights * _outer(in_mask, out_mask, shape=weights.shape, axes=(2, 3))
        weights = _unless(weights, live)
        self.kernel = nnx.Param(weights)
        self.bias = nnx.Param(jnp.zeros((n_out,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        x, kernel, bias = _promote(x, self.kernel[...], self.bias[...])
        return jnp.einsum("bhwc,hwco->bo", x, kernel) + bias


class Conv(nnx.Module):
    """A SAME 2-D convolution with kernel ``[k, k, C_in, C_out]``; inactive channels zero."""

    def __init__(
        self,
        key: jax.Array,
        c_in: int,
        c_out: int,
        kernel_size: int,
        *,
        fan_in: Any,
        in_mask: jax.Array | None = None,
        out_mask: jax.Array | None = None,
        live: Any = True,
    ) -> None:
        k = kernel_size
        weights = unit_weights(key, c_out, (c_in, k, k), fan_in)  # [C_out, C_in, k, k]
        weights = jnp.transpose(weights, (2, 3, 1, 0))  # [k, k, C_in, C_out]
        weights = weights * _outer(in_mask, out_mask, shape=weights.shape, axes=(2, 3))
        weights = _unless(weights, live)
        self.kernel = nnx.Param(weights)
        self.bias = nnx.Param(jnp.zeros((c_out,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        x, kernel, bias = _promote(x, self.kernel[...], self.bias[...])
        return same_conv(x, kernel) + bias


class LayerNorm(nnx.Module):
    """Layer normalisation over the active features only; inactive scales start (and stay) 0."""

    def __init__(
        self, n: int, mask: jax.Array | None = None, epsilon: float = 1e-6, live: Any = True
    ) -> None:
        scale = jnp.ones((n,), jnp.float32) if mask is None else mask
        self.scale = nnx.Param(_unless(scale, live))
        self.bias = nnx.Param(jnp.zeros((n,), jnp.float32))
        self.epsilon = epsilon

    def __call__(self, x: jax.Array, mask: jax.Array | None = None, count: Any = None) -> jax.Array:
        # Statistics in float32 whatever the compute type, as flax's LayerNorm does.
        x32 = x.astype(jnp.float32)
        if mask is None:
            mean = x32.mean(-1, keepdims=True)
            var = jnp.square(x32 - mean).mean(-1, keepdims=True)
        else:
            n = jnp.asarray(count, jnp.float32)
            mean = (x32 * mask).sum(-1, keepdims=True) / n
            var = (jnp.square(x32 - mean) * mask).sum(-1, keepdims=True) / n
        y = (x32 - mean) * jax.lax.rsqrt(var + self.epsilon)
        y = y * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
        return y.astype(x.dtype)


def embed_table(key: jax.Array, rows: int, units: int, fan_in: Any, std: float | None) -> Any:
    """``[rows, units]`` normals keyed by position (``position_normals``).

    ``std=None``: normal with variance ``1 / fan_in`` (nnx.Embed's default);
    otherwise a normal of that standard deviation (learned positions).
    """
    table = position_normals(key, (units, rows), truncated=False).T
    scale = std if std is not None else jnp.sqrt(1.0 / jnp.asarray(fan_in, jnp.float32))
    return table * scale


def sites(key: jax.Array, *names: int) -> jax.Array:
    """The seed of one weight site: ``key`` hashed with fixed site numbers, never a counter.

    A counter (``nnx.Rngs``) would give a layer another key when the layers
    before it change; a fixed number per site keeps each layer's weights the
    same whatever the depth or width around it. ``key`` is a PRNG key or a
    site's seed (a uint32); hashing rather than ``fold_in`` keeps threefry's
    loops out of the compiled program (``position_normals``).
    """
    seed = as_seed(key)
    for name in names:
        seed = hash_index(seed, name)
    return seed


def as_key(rngs_or_key: Any) -> jax.Array:
    """A weight key from ``nnx.Rngs``, a key, or an int seed."""
    if isinstance(rngs_or_key, nnx.Rngs):
        return rngs_or_key.params()
    if isinstance(rngs_or_key, int):
        return jax.random.key(rngs_or_key)
    return rngs_or_key
