"""The optax optimiser and learning-rate schedule, built from traced hyperparameters.

The optimiser is built *inside* the compiled training program, from a dict of
traced scalars, so every continuous value (learning rate, momentum, betas, eps,
weight decay, warm-up fraction, clipping norm) is an input of the program and one
compilation serves every value. Only the optimiser family, Nesterov, the
schedule's shape and whether clipping is on are static.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def learning_rate_schedule(
    kind: str, lr: jax.Array, warmup_fraction: jax.Array, total_steps: int
) -> optax.Schedule:
    """Returns ``step -> learning rate`` over the whole run of ``total_steps``.

    Written out rather than taken from ``optax.warmup_cosine_decay_schedule``
    because optax needs the number of warm-up steps as a Python int, and here the
    warm-up fraction is a traced hyperparameter. With ``W`` warm-up steps it is
    optax's ``warmup_cosine_decay_schedule(0, lr, W, total_steps)`` one step
    ahead during the warm-up (step 0 trains at ``lr / W``, not 0) and equal to it
    from the peak on; ``cosine`` is ``optax.cosine_decay_schedule(lr,
    total_steps)`` (tests/test_optim.py).
    """
    total = float(max(total_steps, 1))

    def cosine(progress: jax.Array) -> jax.Array:
        return 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip(progress, 0.0, 1.0)))

    def schedule(step: jax.Array) -> jax.Array:
        step = jnp.asarray(step, jnp.float32)
        if kind == "constant":
            return lr * jnp.ones_like(step)
        if kind == "cosine":
            return lr * cosine(step / total)
        warmup = jnp.maximum(warmup_fraction * total, 1.0)
        warming = lr * (step + 1.0) / warmup
        decaying = lr * cosine((step - warmup) / jnp.maximum(total - warmup, 1.0))
        return jnp.where(step < warmup, warming, decaying)

    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; allowed: {', '.join(SCHEDULES)}")
    return schedule


def build_optimizer(
    name: str,
    hparams: Mapping[str, jax.Array],
    *,
    schedule: str,
    total_steps: int,
    nesterov: bool = False,
    clip: bool = False,
) -> optax.GradientTransformation:
    """Chains clipping, weight decay and the optimiser from traced ``hparams``.

    Weight decay is coupled (L2 added to the gradient) for sgd and adam, and
    decoupled for adamw, as the names promise.
    """
    lr = learning_rate_schedule(schedule, hparams["lr"], hparams["warmup_fraction"], total_steps)
    parts: list[optax.GradientTransformation] = []
    if clip:
        parts.append(optax.clip_by_global_norm(hparams["grad_clip_norm"]))
    if name == "sgd":
        parts.append(optax.add_decayed_weights(hparams["weight_decay"]))
        parts.append(optax.sgd(lr, momentum=hparams["momentum"], nesterov=nesterov))
    elif name == "adam":
        parts.append(optax.add_decayed_weights(hparams["weight_decay"]))
        parts.append(optax.adam(lr, b1=hparams["b1"], b2=hparams["b2"], eps=hparams["eps"]))
    elif name == "adamw":
        parts.append(
            optax.adamw(
                lr,
                b1=hparams["b1"],
                b2=hparams["b2"],
                eps=hparams["eps"],
                weight_decay=hparams["weight_decay"],
            )
        )
    else:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    return optax.chain(*parts)
