"""The optax optimiser and learning-rate schedule, built from traced hyperparameters and choices.

The optimiser is built *inside* the compiled training program, from a dict of
traced scalars, so every continuous value (learning rate, momentum, betas, eps,
weight decay, warm-up fraction, clipping norm) is an input of the program and one
compilation serves every value. The choices are inputs too: the schedule's
shape, Nesterov, clipping on or off and, among the optimiser families a
program was compiled for, which one a trial uses (``switch_families``), so a
new choice compiles nothing (docs/structural.md). Each choice also accepts a
Python value, which builds only that branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def schedule_index(kind: str) -> int:
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; allowed: {', '.join(SCHEDULES)}")
    return SCHEDULES.index(kind)


def learning_rate_schedule(
    kind: str | jax.Array, lr: jax.Array, warmup_fraction: jax.Array, total_steps: Any
) -> optax.Schedule:
    """Returns ``step -> learning rate`` over the whole run of ``total_steps``.

    ``kind`` is a name or a traced index into ``SCHEDULES``; ``total_steps``
    may be traced too (it depends on the batch size and the schedule's
    horizon). Written out rather than taken from
    ``optax.warmup_cosine_decay_schedule`` because optax needs the number of
    warm-up steps as a Python int, and here the warm-up fraction is a traced
    hyperparameter.
    """
    index = schedule_index(kind) if isinstance(kind, str) else kind
    total = jnp.maximum(jnp.asarray(total_steps, jnp.float32), 1.0)

    def cosine(progress: jax.Array) -> jax.Array:
        return 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip(progress, 0.0, 1.0)))

    def constant(step: jax.Array) -> jax.Array:
        return lr * jnp.ones_like(step)

    def decay(step: jax.Array) -> jax.Array:
        return lr * cosine(step / total)

    def warmup_decay(step: jax.Array) -> jax.Array:
        warmup = jnp.maximum(warmup_fraction * total, 1.0)
        warming = lr * (step + 1.0) / warmup
        decaying = lr * cosine((step - warmup) / jnp.maximum(total - warmup, 1.0))
        return jnp.where(step < warmup, warming, decaying)

    kinds = (constant, decay, warmup_decay)

    def schedule(step: jax.Array) -> jax.Array:
        step = jnp.asarray(step, jnp.float32)
        if isinstance(index, int):
            return kinds[index](step)
        # Three scalar formulas: computing all and picking one costs nothing.
        return jnp.stack([k(step) for k in kinds])[index]

    return schedule


def either(
    on: optax.GradientTransformation, off: optax.GradientTransformation, flag: bool | jax.Array
) -> optax.GradientTransformation:
    """``on`` where ``flag``, else ``off``; both keep the state of ``on.init``.

    A Python ``flag`` picks one; a traced one runs one branch (``lax.cond``;
    under ``vmap`` both, selected per trial).
    """
    if isinstance(flag, bool):
        return on if flag else optax.GradientTransformation(on.init, off.update)

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        return jax.lax.cond(
            flag,
            lambda u, s: on.update(u, s, params),
            lambda u, s: off.update(u, s, params),
            updates,
            state,
        )

    return optax.GradientTransformation(on.init, update)


def _passthrough() -> optax.GradientTransformation:
    # The state of clip_by_global_norm (an EmptyState), so both branches agree.
    return optax.GradientTransformation(
        lambda params: optax.EmptyState(), lambda u, s, p=None: (u, s)
    )


def build_optimizer(
    name: str,
    hparams: Mapping[str, jax.Array],
    *,
    schedule: str | jax.Array,
    total_steps: Any,
    nesterov: bool | jax.Array = False,
    clip: bool | jax.Array = False,
) -> optax.GradientTransformation:
    """Chains clipping, weight decay and the optimiser from traced ``hparams``.

    Weight decay is coupled (L2 added to the gradient) for sgd and adam, and
    decoupled for adamw, as the names promise. ``schedule``, ``nesterov`` and
    ``clip`` may be traced; every choice keeps the same state structure (a
    clipping slot is always there), so a state moves between programs.
    """
    lr = learning_rate_schedule(schedule, hparams["lr"], hparams["warmup_fraction"], total_steps)
    parts: list[optax.GradientTransformation] = [
        either(optax.clip_by_global_norm(hparams["grad_clip_norm"]), _passthrough(), clip)
    ]
    if name == "sgd":
        momentum = hparams["momentum"]
        parts.append(optax.add_decayed_weights(hparams["weight_decay"]))
        # optax.sgd, written out so that Nesterov can be a traced choice: both
        # variants keep the same trace, they differ only in the update they return.
        trace = either(
            optax.trace(decay=momentum, nesterov=True),
            optax.trace(decay=momentum, nesterov=False),
            nesterov,
        )
        parts.append(optax.chain(trace, optax.scale_by_learning_rate(lr)))
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


def switch_families(
    families: Mapping[str, optax.GradientTransformation], index: int | jax.Array
) -> optax.GradientTransformation:
    """One of several optimiser families, chosen by a traced ``index`` into ``families``.

    The state holds every family's state by name (``{"adam": ..., "sgd": ...}``);
    a trial updates its own family's and leaves the others as initialised, so a
    state restored from a program with fewer families keeps its meaning.
    Hand-written: optax's ``multi_transform`` splits parameters between
    transformations, it does not choose one at run time.
    """
    names = list(families)

    def init(params: Any) -> dict[str, Any]:
        return {name: families[name].init(params) for name in names}

    def branch(name: str) -> Any:
        def update(updates: Any, state: dict[str, Any], params: Any) -> tuple[Any, Any]:
            new, own = families[name].update(updates, state[name], params)
            return new, {**state, name: own}

        return update

    def update(updates: Any, state: dict[str, Any], params: Any = None) -> tuple[Any, Any]:
        if len(names) == 1 or isinstance(index, int):
            return branch(names[index if isinstance(index, int) else 0])(updates, state, params)
        return jax.lax.switch(index, [branch(n) for n in names], updates, state, params)

    return optax.GradientTransformation(init, update)


def family_index(families: Sequence[str], name: str) -> int:
    if name not in families:
        raise ValueError(f"optimizer {name!r} is not among this program's {list(families)}")
    return list(families).index(name)
