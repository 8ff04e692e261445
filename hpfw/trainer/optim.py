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
    hyperparameter. With ``W`` warm-up steps it is optax's
    ``warmup_cosine_decay_schedule(0, lr, W, total_steps)`` one step ahead
    during the warm-up (step 0 trains at ``lr / W``, not 0) and equal to it
    from the peak on; ``cosine`` is ``optax.cosine_decay_schedule(lr,
    total_steps)`` (tests/test_optim.py).
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


def _pick(flag: bool | jax.Array, on: Any, off: Any) -> Any:
    """``on`` where ``flag`` else ``off``, leaf by leaf (a Python flag picks one tree).

    A select rather than ``lax.cond``: both sides are a few elementwise
    operations, and a conditional would copy the trees it passes through.
    """
    if isinstance(flag, bool):
        return on if flag else off
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), on, off)


def slots(params: Any, second_moment: bool) -> dict[str, Any]:
    """The optimiser state every family shares: ``count``, ``mu`` and (adam) ``nu``.

    sgd's momentum trace is ``mu``; adam's and adamw's first and second moments
    are ``mu`` and ``nu``; ``count`` is the updates so far (the schedule's step and
    adam's bias correction). One layout for every family, so a program that can
    switch between families holds one set of moments, not one per family, and a
    state moves between programs (``hpfw.trainer.state``).
    """
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = {"count": jnp.zeros([], jnp.int32), "mu": zeros}
    if second_moment:
        state["nu"] = jax.tree.map(jnp.zeros_like, params)
    return state


def family_update(
    name: str,
    hparams: Mapping[str, jax.Array],
    lr: optax.Schedule,
    nesterov: bool | jax.Array,
    clip: bool | jax.Array,
) -> Any:
    """``(grads, state, params) -> (updates, state)`` of one family, with optax's transforms.

    Clipping by global norm, then weight decay coupled (L2 added to the
    gradient) for sgd and adam and decoupled for adamw, as the names promise;
    sgd is optax.sgd (``trace`` then the learning rate), adam and adamw
    ``scale_by_adam``. optax's updates run on the shared slots (``slots``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")

    def update(grads: Any, state: dict[str, Any], params: Any) -> tuple[Any, dict[str, Any]]:
        empty = optax.EmptyState()
        clipped, _ = optax.clip_by_global_norm(hparams["grad_clip_norm"]).update(grads, empty)
        grads = _pick(clip, clipped, grads)
        decay = optax.add_decayed_weights(hparams["weight_decay"])
        new = dict(state)
        if name == "sgd":
            grads, _ = decay.update(grads, empty, params)
            trace = optax.TraceState(trace=state["mu"])
            momentum = hparams["momentum"]
            ahead, traced = optax.trace(momentum, nesterov=True).update(grads, trace)
            plain, _ = optax.trace(momentum, nesterov=False).update(grads, trace)
            updates, new["mu"] = _pick(nesterov, ahead, plain), traced.trace
        else:
            if name == "adam":
                grads, _ = decay.update(grads, empty, params)
            moments = optax.ScaleByAdamState(count=state["count"], mu=state["mu"], nu=state["nu"])
            adam = optax.scale_by_adam(b1=hparams["b1"], b2=hparams["b2"], eps=hparams["eps"])
            updates, moments = adam.update(grads, moments)
            new["mu"], new["nu"] = moments.mu, moments.nu
            if name == "adamw":
                updates, _ = decay.update(updates, empty, params)
        scale = optax.ScaleByScheduleState(count=state["count"])
        updates, _ = optax.scale_by_learning_rate(lr).update(updates, scale)
        new["count"] = optax.safe_increment(state["count"])
        return updates, new

    return update


def build_optimizer(
    name: str,
    hparams: Mapping[str, jax.Array],
    *,
    schedule: str | jax.Array,
    total_steps: Any,
    nesterov: bool | jax.Array = False,
    clip: bool | jax.Array = False,
) -> optax.GradientTransformation:
    """Clipping, weight decay and the optimiser ``name`` from traced ``hparams``.

    Weight decay is coupled (L2 added to the gradient) for sgd and adam, and
    decoupled for adamw, as the names promise. ``schedule``, ``nesterov`` and
    ``clip`` may be traced. The state is the families' shared ``slots``.
    """
    return switch_families(
        (name,), hparams, schedule=schedule, total_steps=total_steps,
        nesterov=nesterov, clip=clip, index=0,
    )  # fmt: skip


def switch_families(
    families: Sequence[str],
    hparams: Mapping[str, jax.Array],
    *,
    schedule: str | jax.Array,
    total_steps: Any,
    nesterov: bool | jax.Array,
    clip: bool | jax.Array,
    index: int | jax.Array,
) -> optax.GradientTransformation:
    """One of several optimiser families, chosen by a traced ``index`` into ``families``.

    Every family updates the same slots (``slots``), so one set of moments
    serves them all; with a traced ``index`` every family's arithmetic runs in
    one elementwise pass and the trial's is picked by selects
    (``fused_families``). Hand-written: optax's ``multi_transform`` splits
    parameters between transformations, it does not choose one at run time.
    """
    lr = learning_rate_schedule(schedule, hparams["lr"], hparams["warmup_fraction"], total_steps)
    second_moment = any(name != "sgd" for name in families)
    if len(families) > 1 and not isinstance(index, int):
        chosen = fused_families(families, hparams, lr, nesterov, clip, index)
    else:
        name = families[index if isinstance(index, int) else 0]
        chosen = family_update(name, hparams, lr, nesterov, clip)

    def init(params: Any) -> dict[str, Any]:
        return slots(params, second_moment)

    def update(grads: Any, state: dict[str, Any], params: Any = None) -> tuple[Any, Any]:
        return chosen(grads, state, params)

    return optax.GradientTransformation(init, update)


def fused_families(
    families: Sequence[str],
    hparams: Mapping[str, jax.Array],
    lr: optax.Schedule,
    nesterov: bool | jax.Array,
    clip: bool | jax.Array,
    index: jax.Array,
) -> Any:
    """``(grads, state, params) -> (updates, state)`` of the family ``families[index]``.

    Every family's arithmetic in one elementwise pass over the shared slots,
    with optax's own moment, bias-correction and trace formulas in the order
    ``family_update`` applies them (so a trial's numbers are its own program's)
    and the family's choices as scalar selects: the coupled weight decay is
    0 for adamw and the decoupled one 0 for the others (adding ``0 * w``
    changes no number). A first version computed each family's whole update
    and picked one tree with selects: a 512-wide, four-layer trial in a
    three-family program ran ~1.4x its own program's time; a ``lax.switch``
    compiled each family as its own branch and passed the state through it.
    """
    index = jnp.asarray(index)
    is_sgd = index == families.index("sgd") if "sgd" in families else jnp.bool_(False)
    is_adamw = index == families.index("adamw") if "adamw" in families else jnp.bool_(False)
    wd, momentum = hparams["weight_decay"], hparams["momentum"]
    b1, b2, eps = hparams["b1"], hparams["b2"], hparams["eps"]
    coupled = jnp.where(is_adamw, 0.0, wd)  # sgd and adam add the decay to the gradient
    decoupled = jnp.where(is_adamw, wd, 0.0)  # adamw to the update

    def update(grads: Any, state: dict[str, Any], params: Any) -> tuple[Any, dict[str, Any]]:
        clipped, _ = optax.clip_by_global_norm(hparams["grad_clip_norm"]).update(
            grads, optax.EmptyState()
        )
        grads = _pick(clip, clipped, grads)
        grads = jax.tree.map(lambda g, p: g + coupled * p, grads, params)
        # The new moments. sgd: optax.trace's ``g + momentum * t`` is its ``mu``; adam and
        # adamw: optax.scale_by_adam's moments (sgd keeps ``nu`` as it is).
        trace = jax.tree.map(lambda g, t: g + momentum * t, grads, state["mu"])
        count = optax.safe_increment(state["count"])
        mu = jax.tree.map(
            lambda t, m: jnp.where(is_sgd, t, m),
            trace,
            optax.tree.update_moment(grads, state["mu"], b1, 1),
        )
        nu = jax.tree.map(
            lambda v, n: jnp.where(is_sgd, v, n),
            state["nu"],
            optax.tree.update_moment_per_elem_norm(grads, state["nu"], b2, 2),
        )
        # The update reads the new moments, not the old ones recomputed: left to itself
        # XLA:CPU fused the moments' formulas into the update's loop, which then read the
        # old moments after their in-place writes, so it copied every weight and moment
        # each step (~10 MB a step for three 512-wide layers; docs/structural.md).
        mu, nu = jax.lax.optimization_barrier((mu, nu))
        ahead = jax.tree.map(lambda g, t: g + momentum * t, grads, mu)  # Nesterov
        sgd = _pick(nesterov, ahead, mu)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu, b2, count)
        adam = jax.tree.map(
            lambda m, v, p: m / (jnp.sqrt(v + 0.0) + eps) + decoupled * p, mu_hat, nu_hat, params
        )
        step = -lr(state["count"])
        updates = jax.tree.map(lambda a, b: step * jnp.where(is_sgd, a, b), sgd, adam)
        return updates, {"count": count, "mu": mu, "nu": nu}

    return update


def family_index(families: Sequence[str], name: str) -> int:
    if name not in families:
        raise ValueError(f"optimizer {name!r} is not among this program's {list(families)}")
    return list(families).index(name)
