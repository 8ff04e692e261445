"""A layer some trials of an envelope skip: ``lax.cond`` whose backward keeps the weights outside.

Differentiating ``lax.cond(live, layer, identity)`` makes the weights the
layer's backward needs outputs of the forward conditional: XLA:CPU copies every
skippable layer's kernel out of it (or writes zeros of its size, when skipped)
at every step. Here the layer is a linear part ``z = linear(h, params)`` and an
elementwise part ``nonlinear(z, aux)``; the forward conditional returns only
``z`` beside its output, and the backward reads ``h`` and the weights from
where they already are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Linear = Callable[[jax.Array, Any], jax.Array]
Nonlinear = Callable[[jax.Array, Any], jax.Array]


def skippable(
    live: Any, linear: Linear, nonlinear: Nonlinear, h: jax.Array, params: Any, aux: Any
) -> jax.Array:
    """``nonlinear(linear(h, params), aux)`` where ``live`` is true, else ``h``.

    Differentiable in ``h`` and ``params``; ``aux`` holds the traced values the
    layer reads but is not differentiated in (dropout rate and key, unit masks).
    """
    z_shape = jax.eval_shape(linear, h, params)

    def active(h: jax.Array, params: Any, aux: Any) -> tuple[jax.Array, jax.Array]:
        z = linear(h, params)
        return nonlinear(z, aux), z

    def skipped(h: jax.Array, params: Any, aux: Any) -> tuple[jax.Array, jax.Array]:
        return h, jnp.zeros(z_shape.shape, z_shape.dtype)

    def forward(h: jax.Array, params: Any, aux: Any, live: Any) -> tuple[jax.Array, Any]:
        out, z = jax.lax.cond(live, active, skipped, h, params, aux)
        return out, (h, params, aux, live, z)

    @jax.custom_vjp
    def run(h: jax.Array, params: Any, aux: Any, live: Any) -> jax.Array:
        return forward(h, params, aux, live)[0]

    def backward(saved: Any, g: jax.Array) -> tuple[Any, ...]:
        h, params, aux, live, z = saved

        def through(g: jax.Array) -> tuple[jax.Array, Any]:
            (dz,) = jax.vjp(lambda z: nonlinear(z, aux), z)[1](g)
            return jax.vjp(linear, h, params)[1](dz)

        def around(g: jax.Array) -> tuple[jax.Array, Any]:
            return g, jax.tree.map(jnp.zeros_like, params)

        dh, dparams = jax.lax.cond(live, through, around, g)
        return dh, dparams, None, None

    run.defvjp(forward, backward)
    return run(h, params, aux, jnp.asarray(live))
