"""FLOPs of one trial of a training program, from XLA's cost analysis of its pieces."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from hpfw.data import SPLITS
from hpfw.models.costs import forward_flops
from hpfw.trainer.spec import DataArrays, Hparams, StaticSpec, placeholder_hparams
from hpfw.trainer.trainer import Trainer, abstract_state


def lowered_flops(fn: Callable[..., Any], *args: Any) -> float:
    """FLOPs of one call of ``fn`` from XLA's cost analysis of its lowering (0 if unknown).

    Lowered for the CPU whatever the device: the count depends only on the
    program, and GPU lowerings carry no cost analysis before compilation.
    """
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args)
    attempts = (
        lambda: jax.jit(fn).trace(*shapes).lower(lowering_platforms=("cpu",)).cost_analysis(),
        lambda: jax.jit(fn).lower(*shapes).cost_analysis(),
        lambda: jax.jit(fn).lower(*shapes).compile().cost_analysis(),  # compiles one piece
    )
    for attempt in attempts:
        try:
            cost = attempt()
        except Exception:  # a backend or jax version without this path
            continue
        if isinstance(cost, (list, tuple)):  # older jax returned one dict per computation
            cost = cost[0] if cost else {}
        if cost and cost.get("flops"):
            return float(cost["flops"])
    return 0.0


def program_flops(spec: StaticSpec, data: DataArrays) -> float:
    """FLOPs of one whole trial of ``spec``'s program, counted piece by piece.

    XLA's cost analysis counts each ``lax.scan`` (while) body once, not once per
    iteration, so costing the whole program undercounts ~80x. Here one training
    step and one evaluation chunk are costed on their own and multiplied by how
    often the program runs them: ``total_steps`` steps, ``epochs`` validations
    and one test evaluation, plus the initialisation. Only shapes are used;
    nothing is compiled or run.
    """
    trainer = Trainer(spec)
    hparams = placeholder_hparams()
    key = jax.random.key(0)
    carry = jax.eval_shape(trainer.init_carry, hparams, key)
    rows = trainer.program.batch_size
    batch_index = jax.ShapeDtypeStruct((rows,), jnp.int32)
    row_mask = jnp.ones((rows,), jnp.float32) if trainer.program.pads_batch else None

    def step(hparams: Hparams, data: DataArrays, key: jax.Array, carry: tuple, index: jax.Array):
        return trainer.step(hparams, data, key, carry, index, row_mask)

    def eval_flops(split: str) -> float:
        x, n = data[f"x_{split}"], spec.split_sizes[SPLITS.index(split)]
        chunk, n_chunks = trainer.eval_chunks(n)
        xc = jax.ShapeDtypeStruct((chunk, *x.shape[1:]), x.dtype)
        y = data[f"y_{split}"]
        yc = jax.ShapeDtypeStruct((chunk, *y.shape[1:]), y.dtype)
        mask = jax.ShapeDtypeStruct((chunk,), jnp.bool_)
        return n_chunks * lowered_flops(trainer.eval_chunk, carry[0], xc, yc, mask)

    step_flops = lowered_flops(step, hparams, data, key, carry, batch_index)
    init_flops = lowered_flops(trainer.init_carry, hparams, key)
    return (
        spec.total_steps * step_flops
        + spec.run_epochs * eval_flops("val")
        + eval_flops("test")
        + init_flops
    )


def counted_flops(spec: StaticSpec) -> float:
    """FLOPs of one trial of ``spec`` at its own sizes, counted from them (``models.costs``).

    For a trial trained inside an envelope: the work its own network needs, as
    its own program would report it (matmuls and convolutions; XLA's count of
    a program adds a few percent of elementwise work).
    """
    model = dict(spec.model)
    forward = forward_flops(model, model, spec.input_shape, spec.num_classes)
    _, n_val, n_test = spec.split_sizes
    train = 3.0 * forward * spec.batch_size * spec.total_steps
    return train + forward * (spec.run_epochs * n_val + n_test)


def param_count(spec: StaticSpec) -> int:
    """The trial's own trainable parameters (its sizes, also inside an envelope; shapes only)."""
    # Counting traces the model's initialisation (~30 ms under the GIL, beside the
    # other trials' programs), so trials that differ only in how they train (optimiser,
    # batch size, epochs) share one count: a seed-wide sweep counts 16 models, not 64.
    return _model_params(dataclasses.replace(spec, **_TRAINING_ONLY))


# Fields of a ``StaticSpec`` that never change the model's parameters, and a valid value each.
_TRAINING_ONLY: dict[str, Any] = {
    "optimizer": "sgd",
    "nesterov": False,
    "clip": False,
    "epochs": 1,
    "batch_size": 1,
    "start_epoch": 0,
    "schedule_epochs": 0,
    "envelope_program": None,
}


@functools.cache
def _model_params(spec: StaticSpec) -> int:
    params = abstract_state(spec)["params"]
    return int(sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params)))
