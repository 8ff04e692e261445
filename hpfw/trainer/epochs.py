"""The whole run over a program's horizon: epochs, their minibatch steps, and a padded batch.

A program scans its horizon of epochs; a trial trains epochs ``[start_epoch,
epochs)`` of it and skips the rest (``lax.cond``: a CPU does not run a skipped
epoch, and under ``vmap`` its metrics are NaN like a diverged one's). When
the program's rows outnumber a trial's batch, step ``t`` takes the trial's
own rows ``order[t*b : (t+1)*b]`` (those its own program takes) and masks the
others, and the epoch loops over the trial's own ``n // b`` steps only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from hpfw.trainer import monitor
from hpfw.trainer.spec import DataArrays, Hparams, TrainState

if TYPE_CHECKING:
    from hpfw.trainer.trainer import Trainer


def epoch_fn(trainer: Trainer, hparams: Hparams, data: DataArrays, dropout_key: jax.Array) -> Any:
    """``(carry, epoch_key) -> (carry, (train_loss, val_loss, val_accuracy))``: one epoch."""
    program = trainer.program
    n, rows, max_steps = program.split_sizes[0], program.batch_size, program.steps_per_epoch

    def step(carry: tuple, batch_index: jax.Array) -> tuple[tuple, jax.Array]:
        return trainer.step(hparams, data, dropout_key, carry, batch_index)

    def run_epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
        order = jax.random.permutation(epoch_key, n)
        if not program.pads_batch:
            batches = order[: max_steps * rows].reshape(max_steps, rows)
            carry, losses = jax.lax.scan(step, carry, batches)
            train_loss = losses.mean()
        else:
            carry, train_loss = padded_epoch(trainer, hparams, data, dropout_key, carry, order)
        val_loss, val_acc = trainer.evaluate(carry[0], data["x_val"], data["y_val"], hparams)
        return carry, (train_loss, val_loss, val_acc)

    return run_epoch


def padded_epoch(
    trainer: Trainer,
    hparams: Hparams,
    data: DataArrays,
    dropout_key: jax.Array,
    carry: tuple,
    order: jax.Array,
) -> tuple[tuple, jax.Array]:
    """One epoch of a trial in a program whose batch size varies: the trial's own steps."""
    program = trainer.program
    rows = program.batch_size
    b = trainer.structure(hparams)["batch_size"]
    steps = trainer.steps_per_epoch(hparams)
    order = jnp.concatenate([order, jnp.zeros((rows,), order.dtype)])  # slices stay inside
    row_mask = (jnp.arange(rows) < b).astype(jnp.float32)  # masked rows (no micro-batches)

    # A loop of exactly the trial's own steps (``fori_loop`` with a traced count, a
    # while loop), not a scan over the program's most steps with a ``lax.cond`` in
    # each: measured on the seed-wide MLP envelope, the scan-with-cond program
    # compiled in ~1.3x the time for no faster steps (docs/structural.md). Under
    # vmap the loop runs until the group's longest trial ends, masking the others,
    # as a batched cond would.
    def body(t: jax.Array, state: tuple) -> tuple:
        carry, total = state
        if program.micro_batches:
            carry, loss = micro_batch_step(trainer, hparams, data, dropout_key, carry, order, t)
        else:
            index = jax.lax.dynamic_slice(order, (t * b,), (rows,))
            carry, loss = trainer.step(hparams, data, dropout_key, carry, index, row_mask)
        return carry, total + loss

    carry, total = jax.lax.fori_loop(0, steps, body, (carry, jnp.float32(0.0)))
    return carry, total / steps


def micro_batch_step(
    trainer: Trainer,
    hparams: Hparams,
    data: DataArrays,
    dropout_key: jax.Array,
    carry: tuple,
    order: jax.Array,
    t: jax.Array,
) -> tuple[tuple, jax.Array]:
    """Step ``t`` of a trial as ``ceil(b / rows)`` micro-batches of the program's rows.

    The micro-batches' gradients sum to the whole batch's (each is its rows' share
    of the batch's mean loss), so the update is the trial's own program's; rows
    past the batch's end in its last micro-batch are masked. On a CPU a trial
    of batch 32 in a program of batches 32-128 then does its own matmul work,
    where masked rows did four times as much (docs/structural.md).
    """
    rows = trainer.program.batch_size
    b = trainer.structure(hparams)["batch_size"]
    params, _, _, step_i = carry

    def gradients(k: jax.Array) -> tuple[jax.Array, Any]:
        first = k * rows
        index = jax.lax.dynamic_slice(order, (t * b + first,), (rows,))
        mask = (first + jnp.arange(rows) < b).astype(jnp.float32)
        return trainer.gradients(hparams, data, dropout_key, params, step_i, index, mask, first, b)

    def add(k: jax.Array, state: tuple) -> tuple:
        part, part_grads = gradients(k)
        return state[0] + part, jax.tree.map(jnp.add, state[1], part_grads)

    # The first micro-batch outside the loop: a trial of the smallest batch size
    # then runs its step as its own program does, and the loop not at all.
    loss, grads = jax.lax.fori_loop(1, (b + rows - 1) // rows, add, gradients(jnp.int32(0)))
    return trainer.update(hparams, carry, loss, grads)


def train(
    trainer: Trainer,
    hparams: Hparams,
    key: jax.Array,
    data: DataArrays,
    start: TrainState | None = None,
    *,
    with_state: bool = False,
    monitored: bool = False,
) -> dict[str, Any]:
    """The whole run (``make_train_fn``'s function).

    Scans the program's horizon of epochs: index ``r`` trains epoch
    ``start_epoch + r`` while that is before the trial's ``epochs``, and skips
    (NaN metrics) after. ``start`` is used when ``start_epoch > 0``.

    ``monitored`` calls back after every epoch it trains (``hpfw.trainer.monitor``,
    the trial's slot in ``hparams["monitor_slot"]``); a yes to "prune?" skips the
    remaining epochs like a divergence does, and adds ``pruned`` and
    ``pruned_epoch`` (0-based, the last epoch trained) to the metrics.
    """
    s = trainer.structure(hparams)
    init_key, shuffle_key, dropout_key = jax.random.split(key, 3)
    run_epoch = epoch_fn(trainer, hparams, data, dropout_key)
    start_epoch, end_epoch = s["start_epoch"], s["epochs"]

    def skip_epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
        return carry, (jnp.float32(jnp.nan),) * 3

    def epoch(state: tuple, r: jax.Array) -> tuple[tuple, tuple]:
        carry, pruned = state
        e = start_epoch + r
        live = e < end_epoch
        # Keyed by the epoch's number, so a continued run shuffles as an uninterrupted one.
        epoch_key = jax.random.fold_in(shuffle_key, e)
        # Once diverged or pruned, or past its end, a trial's epochs do no work (under
        # vmap both branches run).
        trains = live & ~carry[2] & ~pruned
        carry, metrics = jax.lax.cond(trains, run_epoch, skip_epoch, carry, epoch_key)
        hidden = carry[2] | pruned | ~live
        metrics = tuple(jnp.where(hidden, jnp.nan, m) for m in metrics)
        if monitored:  # a hidden epoch is not reported, and its answer is no
            told = monitor.epoch_callback(hparams[monitor.SLOT], e + 1, hidden, metrics)
            pruned = pruned | told
        return (carry, pruned), (*metrics, carry[2] & live, pruned)

    fresh = trainer.init_carry(hparams, init_key)
    if start is None:
        init = fresh
    else:
        init = jax.tree.map(
            lambda a, b: jnp.where(start_epoch > 0, a, b), trainer.carry(start), fresh
        )
    horizon = jnp.arange(trainer.program.epochs)
    (final, pruned), outputs = jax.lax.scan(epoch, (init, jnp.array(False)), horizon)
    train_loss, val_loss, val_acc, flags, cut = outputs
    params, opt_state, diverged, step_i = final
    test_loss, test_acc = trainer.evaluate(params, data["x_test"], data["y_test"], hparams)
    first_bad = start_epoch + jnp.argmax(flags)
    state = {"state": {"params": params, "opt_state": opt_state, "step": step_i}}
    extra: dict[str, Any] = {}
    if monitored:
        last = start_epoch + jnp.argmax(cut)
        extra = {"pruned": pruned, "pruned_epoch": jnp.where(pruned, last, -1)}
    return (
        (state if with_state else {})
        | {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_loss": jnp.where(diverged, jnp.nan, test_loss),
            "test_accuracy": jnp.where(diverged, jnp.nan, test_acc),
            "diverged": diverged,
            "diverged_epoch": jnp.where(diverged, first_bad, -1),
        }
        | extra
    )
