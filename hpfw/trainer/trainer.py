"""The compiled trainer: a whole training run as one pure, jit-compilable function.

A whole training run (per-epoch shuffling, minibatch steps, validation every
epoch, the final test evaluation) is a single ``lax.scan`` program over the
split (graphdef, state) pair of a Flax NNX model, with every continuous
hyperparameter a traced input (``hpfw.trainer.spec``).

A run can also continue from a saved trainer state (``TrainState``): it then
trains epochs ``[start_epoch, epochs)`` with the same shuffles, dropout masks
and learning rates as an uninterrupted run, because each epoch's shuffle key
and each step's dropout key derive from the epoch and step numbers, and the
schedule's horizon (``schedule_epochs``) does not depend on where a run starts.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from hpfw.models import build_model
from hpfw.trainer import monitor
from hpfw.trainer.optim import build_optimizer
from hpfw.trainer.spec import (
    DataArrays,
    Hparams,
    StaticSpec,
    TrainFn,
    TrainState,
    placeholder_hparams,
)

EVAL_CHUNK = 1024  # samples per evaluation step: bounds memory on large splits


def _cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, smoothing: Any):
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), smoothing)
    return optax.softmax_cross_entropy(logits, targets)


class Trainer:
    """The pieces of the training program for one ``StaticSpec``.

    ``make_train_fn`` composes them into the whole run; ``flops.program_flops`` lowers
    them one at a time, because XLA's cost analysis counts a ``lax.scan`` body
    once rather than once per iteration.
    """

    def __init__(self, spec: StaticSpec) -> None:
        self.spec = spec
        # The model's structure, without materialising any weights.
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: self._model(jax.random.key(0))))

    def _model(self, init_key: jax.Array) -> nnx.Module:
        return build_model(
            self.spec.model_config,
            input_shape=self.spec.input_shape,
            num_classes=self.spec.num_classes,
            rngs=nnx.Rngs(params=init_key),
        )

    def init_params(self, init_key: jax.Array) -> Any:
        """The model's initial weights (the state half of ``nnx.split``)."""
        return nnx.split(self._model(init_key))[1]

    def optimizer(self, hparams: Hparams) -> optax.GradientTransformation:
        spec = self.spec
        return build_optimizer(
            spec.optimizer,
            hparams,
            schedule=spec.schedule,
            total_steps=spec.schedule_steps,
            nesterov=spec.nesterov,
            clip=spec.clip,
        )

    def init_state(self, hparams: Hparams, init_key: jax.Array) -> TrainState:
        """A fresh ``TrainState``: initial weights, optimiser state, step 0."""
        params = self.init_params(init_key)
        opt_state = self.optimizer(hparams).init(params)
        return {"params": params, "opt_state": opt_state, "step": jnp.array(0, jnp.int32)}

    def init_carry(self, hparams: Hparams, init_key: jax.Array) -> tuple:
        """The training loop's carry: ``(params, opt_state, diverged, step)``."""
        return self.carry(self.init_state(hparams, init_key))

    @staticmethod
    def carry(state: TrainState) -> tuple:
        return state["params"], state["opt_state"], jnp.array(False), state["step"]

    def logits(
        self, hparams: Hparams, params: Any, x: jax.Array, key: jax.Array | None
    ) -> jax.Array:
        # Master weights stay float32; bfloat16 is only the compute type.
        dtype = self.spec.compute_dtype
        compute = jax.tree.map(lambda p: p.astype(dtype), params)
        # Token ids (a language model's inputs) stay integers.
        inputs = x if jnp.issubdtype(x.dtype, jnp.integer) else x.astype(dtype)
        return nnx.merge(self.graphdef, compute)(inputs, dropout_rate=hparams["dropout"], key=key)

    def step(
        self,
        hparams: Hparams,
        data: DataArrays,
        dropout_key: jax.Array,
        carry: tuple,
        batch_index: jax.Array,
    ) -> tuple[tuple, jax.Array]:
        """One minibatch step on ``data["x_train"][batch_index]``: the training scan's body."""
        params, opt_state, diverged, step_i = carry
        tx = self.optimizer(hparams)
        x, y = data["x_train"][batch_index], data["y_train"][batch_index]

        def loss_fn(params: Any) -> jax.Array:
            logits = self.logits(hparams, params, x, jax.random.fold_in(dropout_key, step_i))
            smoothing = hparams["label_smoothing"]
            return _cross_entropy(logits, y, self.spec.num_classes, smoothing).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        # A NaN or inf loss marks the run diverged for good. The state is not
        # frozen per step (a select over every parameter and optimiser slot each
        # step costs more than it saves): what follows a NaN is never reported,
        # and ``train`` skips the epochs after the one that diverged.
        diverged = diverged | ~jnp.isfinite(loss)
        return (params, opt_state, diverged, step_i + 1), loss

    def eval_chunks(self, n: int) -> tuple[int, int]:
        """``(chunk, n_chunks)``: how an evaluation of ``n`` samples is split."""
        chunk = min(n, EVAL_CHUNK)
        return chunk, math.ceil(n / chunk)

    def eval_chunk(self, params: Any, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
        """``[summed loss, number correct]`` over the samples of one chunk where ``mask``.

        For sequence targets (labels [B, T], a language model) a sample's loss and
        accuracy are its means over the T positions.
        """
        logits = self.logits({"dropout": jnp.float32(0.0)}, params, x, None)
        loss = _cross_entropy(logits, y, self.spec.num_classes, 0.0)
        correct = jnp.argmax(logits, -1) == y
        loss, correct = (a.reshape(a.shape[0], -1).mean(-1) for a in (loss, correct))
        return jnp.stack([(loss * mask).sum(), (correct * mask).sum()])

    def evaluate(self, params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean loss and accuracy over a whole split, in chunks of ``EVAL_CHUNK``."""
        n = y.shape[0]
        chunk, n_chunks = self.eval_chunks(n)
        pad = n_chunks * chunk - n
        xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
            (n_chunks, chunk, *x.shape[1:])
        )
        ys = jnp.pad(y, [(0, pad)] + [(0, 0)] * (y.ndim - 1)).reshape(
            (n_chunks, chunk, *y.shape[1:])
        )
        mask = (jnp.arange(n_chunks * chunk) < n).reshape(n_chunks, chunk)

        def one(totals: jax.Array, inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, None]:
            return totals + self.eval_chunk(params, *inputs), None

        totals, _ = jax.lax.scan(one, jnp.zeros(2), (xs, ys, mask))
        return totals[0] / n, totals[1] / n

    def train(
        self,
        hparams: Hparams,
        key: jax.Array,
        data: DataArrays,
        start: TrainState | None = None,
        *,
        with_state: bool = False,
        monitored: bool = False,
    ) -> dict[str, Any]:
        """The whole run: ``make_train_fn``'s function.

        ``monitored`` calls back after every epoch (``hpfw.trainer.monitor``, the
        trial's slot in ``hparams["monitor_slot"]``); a yes to "prune?" skips the
        remaining epochs like a divergence does, and adds ``pruned`` and
        ``pruned_epoch`` (0-based, the last epoch trained) to the metrics.
        """
        spec = self.spec
        steps, batch = spec.steps_per_epoch, spec.batch_size
        init_key, shuffle_key, dropout_key = jax.random.split(key, 3)

        def step(carry: tuple, batch_index: jax.Array) -> tuple[tuple, jax.Array]:
            return self.step(hparams, data, dropout_key, carry, batch_index)

        def run_epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            order = jax.random.permutation(epoch_key, spec.split_sizes[0])[: steps * batch]
            carry, losses = jax.lax.scan(step, carry, order.reshape(steps, batch))
            val_loss, val_acc = self.evaluate(carry[0], data["x_val"], data["y_val"])
            return carry, (losses.mean(), val_loss, val_acc)

        def skip_epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            return carry, (jnp.float32(jnp.nan),) * 3

        def epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            # Once diverged, later epochs do no work (under vmap both branches run).
            carry, metrics = jax.lax.cond(carry[2], skip_epoch, run_epoch, carry, epoch_key)
            diverged = carry[2]
            nan = jnp.nan
            return carry, (*(jnp.where(diverged, nan, m) for m in metrics), diverged)

        def prunable_epoch(state: tuple, inputs: tuple) -> tuple[tuple, tuple]:
            # A pruned run skips its later epochs as a diverged one does.
            (carry, pruned), (number, epoch_key) = state, inputs
            stopped = carry[2] | pruned
            carry, metrics = jax.lax.cond(stopped, skip_epoch, run_epoch, carry, epoch_key)
            metrics = tuple(jnp.where(carry[2] | pruned, jnp.nan, m) for m in metrics)
            slot, done = hparams[monitor.SLOT], stopped | carry[2]
            told = monitor.epoch_callback(slot, number + 1, done, metrics)
            return (carry, pruned | told), (*metrics, carry[2], pruned | told)

        init = self.init_carry(hparams, init_key) if start is None else self.carry(start)
        # Keyed by the epoch's number, so a continued run shuffles as an uninterrupted one.
        epochs = jnp.arange(spec.start_epoch, spec.epochs)
        epoch_keys = jax.vmap(lambda e: jax.random.fold_in(shuffle_key, e))(epochs)
        extra: dict[str, Any] = {}
        if monitored:
            (final, pruned), (train_loss, val_loss, val_acc, flags, cut) = jax.lax.scan(
                prunable_epoch, (init, jnp.array(False)), (epochs, epoch_keys)
            )
            last = spec.start_epoch + jnp.argmax(cut)
            extra = {"pruned": pruned, "pruned_epoch": jnp.where(pruned, last, -1)}
        else:
            final, (train_loss, val_loss, val_acc, flags) = jax.lax.scan(epoch, init, epoch_keys)
        params, opt_state, diverged, step_i = final
        test_loss, test_acc = self.evaluate(params, data["x_test"], data["y_test"])
        first_bad = spec.start_epoch + jnp.argmax(flags)
        state = {"state": {"params": params, "opt_state": opt_state, "step": step_i}}
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


def make_train_fn(spec: StaticSpec, with_state: bool = False, monitored: bool = False) -> TrainFn:
    """Returns the pure training function ``(hparams, key, data, start=None) -> metrics``.

    Pure and shape-static, so it can be jit-compiled once per ``spec`` and
    ``vmap``-ed over (hparams, key) to run many trials as one program. ``data``
    holds ``x_train, y_train, x_val, y_val, x_test, y_test``. The metrics hold
    per-epoch ``train_loss, val_loss, val_accuracy`` (shape ``[run_epochs]``),
    the final ``test_loss, test_accuracy``, ``diverged`` and ``diverged_epoch``
    (0-based, counted from the first epoch of the whole run). ``start`` is a
    ``TrainState`` to continue from at ``spec.start_epoch``; ``with_state``
    adds ``"state"``, the ``TrainState`` after the last epoch; ``monitored``
    reports every epoch and may prune (``Trainer.train``).
    """
    trainer = Trainer(spec)

    def train(
        hparams: Hparams, key: jax.Array, data: DataArrays, start: TrainState | None = None
    ) -> dict[str, Any]:
        return trainer.train(hparams, key, data, start, with_state=with_state, monitored=monitored)

    return train


def abstract_state(spec: StaticSpec) -> TrainState:
    """The shapes and dtypes of ``spec``'s ``TrainState``: a target to restore into."""
    return jax.eval_shape(Trainer(spec).init_state, placeholder_hparams(), jax.random.key(0))
