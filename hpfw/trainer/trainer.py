"""The compiled trainer: a whole training run as one pure, jit-compilable function.

A whole training run (per-epoch shuffling, minibatch steps, validation every
epoch, the final test evaluation) is a single ``lax.scan`` program over the
split (graphdef, state) pair of a Flax NNX model, with every continuous
hyperparameter and every structural value a traced input
(``hpfw.trainer.spec``). A program is compiled for an envelope
(``ProgramSpec``): the model at its largest sizes, a trial's own sizes as
masks (models/masked.py); rows beyond a trial's batch size masked and steps
beyond its steps per epoch skipped; epochs outside ``[start_epoch, epochs)``
skipped (``lax.cond``, which a CPU does not run).

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

from hpfw.models import STRUCTURAL, build_model
from hpfw.models.layers import DropoutKey, RowKey, step_seed
from hpfw.trainer import epochs, live
from hpfw.trainer.optim import switch_families
from hpfw.trainer.spec import (
    STRUCTURE_NAMES,
    DataArrays,
    Hparams,
    ProgramSpec,
    StaticSpec,
    TrainFn,
    TrainState,
    placeholder_inputs,
)

EVAL_CHUNK = 1024  # samples per evaluation step: bounds memory on large splits


def _cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, smoothing: Any):
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), smoothing)
    return optax.softmax_cross_entropy(logits, targets)


class Trainer:
    """The pieces of the training program for one ``ProgramSpec``.

    Built from a ``StaticSpec`` (one trial: its program, and its own
    structural values as defaults for inputs that leave them out) or from a
    ``ProgramSpec`` (inputs must hold every structural value).
    ``make_train_fn`` composes the pieces into the whole run;
    ``flops.program_flops`` lowers them one at a time, because XLA's cost
    analysis counts a ``lax.scan`` body once rather than once per iteration.
    """

    def __init__(self, spec: StaticSpec | ProgramSpec) -> None:
        if isinstance(spec, StaticSpec):
            self.program = spec.program
            self.defaults: dict[str, int] | None = spec.structure()
        else:
            self.program, self.defaults = spec, None
        # The model's structure, without materialising any weights.
        inputs = placeholder_inputs()
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: self._model(inputs, jax.random.key(0))))

    # --- inputs --------------------------------------------------------------------

    def structure(self, hparams: Hparams) -> dict[str, Any]:
        """The structural values among ``hparams``, defaults from the trial's spec."""
        if self.defaults is None:
            return {name: hparams[name] for name in STRUCTURE_NAMES}
        return {name: hparams.get(name, self.defaults[name]) for name in STRUCTURE_NAMES}

    def _model_structure(self, hparams: Hparams) -> dict[str, Any]:
        structure = self.structure(hparams)
        return {k: structure[k] for k in STRUCTURAL[self.program.family]}

    # --- the model and the optimiser --------------------------------------------------

    def _model(self, hparams: Hparams, init_key: jax.Array) -> nnx.Module:
        program = self.program
        return build_model(
            program.model_config,
            input_shape=program.input_shape,
            num_classes=program.num_classes,
            rngs=init_key,
            ranges=program.model_ranges,
            structure=self._model_structure(hparams),
        )

    def init_params(self, hparams: Hparams, init_key: jax.Array) -> Any:
        """The model's initial weights (the state half of ``nnx.split``)."""
        return nnx.split(self._model(hparams, init_key))[1]

    def steps_per_epoch(self, hparams: Hparams) -> Any:
        """A trial's steps per epoch (traced when the program pads the batch)."""
        if not self.program.pads_batch:
            return self.program.steps_per_epoch
        return self.program.split_sizes[0] // self.structure(hparams)["batch_size"]

    def optimizer(self, hparams: Hparams, clip: bool = True) -> optax.GradientTransformation:
        """The trial's optimiser (``clip=False``: without its clipping, which the caller does)."""
        s = self.structure(hparams)
        return switch_families(
            self.program.optimizers,
            hparams,
            schedule=s["schedule"],
            total_steps=s["schedule_epochs"] * self.steps_per_epoch(hparams),
            nesterov=_flag(s["nesterov"]),
            clip=_flag(s["clip"]) if clip else False,
            index=s["optimizer"],
        )

    def init_state(self, hparams: Hparams, init_key: jax.Array) -> TrainState:
        """A fresh ``TrainState``: initial weights, optimiser state, step 0."""
        params = self.init_params(hparams, init_key)
        opt_state = self.optimizer(hparams).init(params)
        return {"params": params, "opt_state": opt_state, "step": jnp.array(0, jnp.int32)}

    def init_carry(self, hparams: Hparams, init_key: jax.Array) -> tuple:
        """The training loop's carry: ``(params, opt_state, diverged, step)``."""
        return self.carry(self.init_state(hparams, init_key))

    @staticmethod
    def carry(state: TrainState) -> tuple:
        return state["params"], state["opt_state"], jnp.array(False), state["step"]

    def logits(
        self, hparams: Hparams, params: Any, x: jax.Array, key: DropoutKey | None
    ) -> jax.Array:
        # Master weights stay float32; bfloat16 is only the compute type.
        dtype = self.program.compute_dtype
        compute = jax.tree.map(lambda p: p.astype(dtype), params)
        # Token ids (a language model's inputs) stay integers.
        inputs = x if jnp.issubdtype(x.dtype, jnp.integer) else x.astype(dtype)
        return nnx.merge(self.graphdef, compute)(
            inputs,
            dropout_rate=hparams["dropout"],
            key=key,
            structure=self._model_structure(hparams),
        )

    # --- one step, one evaluation ------------------------------------------------------

    def step(
        self,
        hparams: Hparams,
        data: DataArrays,
        dropout_key: jax.Array,
        carry: tuple,
        batch_index: jax.Array,
        row_mask: jax.Array | None = None,
    ) -> tuple[tuple, jax.Array]:
        """One minibatch step on ``data["x_train"][batch_index]``: the training scan's body.

        ``row_mask`` marks the rows of the trial's own batch when the program's
        rows are more (the others add nothing to the loss or its gradient).
        """
        params, _, _, step_i = carry
        loss, grads = self.gradients(hparams, data, dropout_key, params, step_i, batch_index,
                                     row_mask)  # fmt: skip
        return self.update(hparams, carry, loss, grads)

    def gradients(
        self,
        hparams: Hparams,
        data: DataArrays,
        dropout_key: jax.Array,
        params: Any,
        step_i: jax.Array,
        batch_index: jax.Array,
        row_mask: jax.Array | None = None,
        first_row: jax.Array | None = None,
        batch_size: jax.Array | None = None,
    ) -> tuple[jax.Array, Any]:
        """``(loss, gradients)`` of step ``step_i`` on the rows ``batch_index``.

        With ``first_row`` and ``batch_size`` the rows are a micro-batch starting
        at row ``first_row`` of a batch of ``batch_size``: the loss is its rows'
        share of the batch's mean (so the micro-batches' losses and gradients sum
        to the batch's), and dropout masks its rows as the whole batch would.
        """
        x, y = data["x_train"][batch_index], data["y_train"][batch_index]
        key: DropoutKey = step_seed(dropout_key, step_i)
        if first_row is not None:
            key = RowKey(key, first_row)

        def loss_fn(params: Any) -> jax.Array:
            logits = self.logits(hparams, params, x, key)
            smoothing = hparams["label_smoothing"]
            losses = _cross_entropy(logits, y, self.program.num_classes, smoothing)
            if row_mask is None:
                return losses.mean()
            per_row = losses.reshape(losses.shape[0], -1).mean(-1)
            rows = row_mask.sum() if batch_size is None else batch_size
            return (per_row * row_mask).sum() / rows

        return jax.value_and_grad(loss_fn)(params)

    def update(
        self, hparams: Hparams, carry: tuple, loss: jax.Array, grads: Any
    ) -> tuple[tuple, jax.Array]:
        """The optimiser's step with ``grads``: the next carry, and ``loss``."""
        params, opt_state, diverged, step_i = carry
        groups = live.layer_groups(
            params, self.program.model_ranges, self._model_structure(hparams)
        )
        if groups is None:
            updates, opt_state = self.optimizer(hparams).update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
        else:  # the layers this trial skips keep their (zero) weights without a pass over them
            params, opt_state = live.live_step(
                self.optimizer(hparams, clip=False),
                _flag(self.structure(hparams)["clip"]),
                hparams["grad_clip_norm"],
                grads,
                opt_state,
                params,
                groups,
            )
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

    def eval_chunk(
        self,
        params: Any,
        x: jax.Array,
        y: jax.Array,
        mask: jax.Array,
        hparams: Hparams | None = None,
    ) -> jax.Array:
        """``[summed loss, number correct]`` over the samples of one chunk where ``mask``.

        For sequence targets (labels [B, T], a language model) a sample's loss and
        accuracy are its means over the T positions.
        """
        inputs = {**(hparams or {}), "dropout": jnp.float32(0.0)}
        logits = self.logits(inputs, params, x, None)
        loss = _cross_entropy(logits, y, self.program.num_classes, 0.0)
        correct = jnp.argmax(logits, -1) == y
        loss, correct = (a.reshape(a.shape[0], -1).mean(-1) for a in (loss, correct))
        return jnp.stack([(loss * mask).sum(), (correct * mask).sum()])

    def evaluate(
        self, params: Any, x: jax.Array, y: jax.Array, hparams: Hparams | None = None
    ) -> tuple[jax.Array, jax.Array]:
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
            return totals + self.eval_chunk(params, *inputs, hparams), None

        totals, _ = jax.lax.scan(one, jnp.zeros(2), (xs, ys, mask))
        return totals[0] / n, totals[1] / n

    # --- the whole run -----------------------------------------------------------------

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
        """The whole run: ``make_train_fn``'s function (``hpfw.trainer.epochs``)."""
        return epochs.train(
            self, hparams, key, data, start, with_state=with_state, monitored=monitored
        )


def _flag(value: Any) -> Any:
    """A structural 0/1 as a Python bool when it is one, else a traced boolean."""
    if isinstance(value, int):
        return bool(value)
    return jnp.asarray(value) != 0


def make_train_fn(
    spec: StaticSpec | ProgramSpec, with_state: bool = False, monitored: bool = False
) -> TrainFn:
    """Returns the pure training function ``(hparams, key, data, start=None) -> metrics``.

    Pure and shape-static, so it can be jit-compiled once per program and
    ``vmap``-ed over (hparams, key) to run many trials as one program. ``data``
    holds ``x_train, y_train, x_val, y_val, x_test, y_test``; ``hparams`` the
    continuous values and, optionally, the structural ones (``STRUCTURE_NAMES``;
    left out: the trial's own from a ``StaticSpec``). The metrics hold
    per-epoch ``train_loss, val_loss, val_accuracy`` over the program's
    horizon (entry ``r`` is epoch ``start_epoch + r``; NaN past the trial's
    end), the final ``test_loss, test_accuracy``, ``diverged`` and
    ``diverged_epoch`` (0-based, counted from the first epoch of the whole
    run). ``start`` is a ``TrainState`` to continue from at ``start_epoch``;
    ``with_state`` adds ``"state"``, the ``TrainState`` after the last epoch;
    ``monitored`` reports every epoch and may prune (``epochs.train``).
    """
    trainer = Trainer(spec)

    def train(
        hparams: Hparams, key: jax.Array, data: DataArrays, start: TrainState | None = None
    ) -> dict[str, Any]:
        return trainer.train(hparams, key, data, start, with_state=with_state, monitored=monitored)

    return train


def abstract_state(spec: StaticSpec | ProgramSpec) -> TrainState:
    """The shapes and dtypes of a program's ``TrainState`` (a ``StaticSpec``: its own sizes)."""
    program = spec.dedicated if isinstance(spec, StaticSpec) else spec
    inputs = placeholder_inputs()
    return jax.eval_shape(Trainer(program).init_state, inputs, jax.random.key(0))
