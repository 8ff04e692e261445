"""Convolution and pooling for small images whose gradients XLA:CPU computes quickly.

XLA:CPU lowers the kernel gradient of ``lax.conv_general_dilated`` (a
convolution with the batch as its feature axis) to a slow generic loop: a
2-layer, 32-channel CNN step on 8x8 digits spent about 90% of its time there.
``same_conv`` computes that gradient as one matmul per kernel tap instead, and
``max_pool_2x2`` takes the maximum of a reshape, whose gradient is elementwise
rather than ``reduce_window``'s select-and-scatter. Measurements:
docs/structural.md ("Depth that changes shapes").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=(1, 1), padding="SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


@jax.custom_vjp
def same_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A stride-1 SAME convolution of ``x [B, H, W, C_in]`` by ``kernel [kh, kw, C_in, C_out]``."""
    return _conv(x, kernel)


def _forward(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _conv(x, kernel), (x, kernel)


def _backward(saved: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, kernel = saved
    (dx,) = jax.vjp(lambda x: _conv(x, kernel), x)[1](g)  # a convolution XLA:CPU runs well
    kh, kw = kernel.shape[:2]
    h, w = x.shape[1:3]
    top, left = (kh - 1) // 2, (kw - 1) // 2  # SAME pads the extra row/column after
    padded = jnp.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    rows = g.reshape(-1, g.shape[-1])
    taps = [
        [padded[:, i : i + h, j : j + w, :].reshape(-1, x.shape[-1]).T @ rows for j in range(kw)]
        for i in range(kh)
    ]
    return dx, jnp.stack([jnp.stack(row) for row in taps]).astype(kernel.dtype)


same_conv.defvjp(_forward, _backward)


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max pooling of ``[B, H, W, C]``, stride 2, VALID (drops an odd last row or column)."""
    b, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
