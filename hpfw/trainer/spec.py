"""What a trial is (``StaticSpec``), what its program is compiled for (``ProgramSpec``), its inputs.

Every continuous value is a traced input of the program (``HPARAM_NAMES``),
and so is every structural value (``STRUCTURE_NAMES``: widths, depths, heads,
batch size, epochs, the optimiser family and the other choices): a program is
compiled for a ``ProgramSpec``, an envelope of structural values (their
ranges, the optimiser families, the epoch horizon), and serves every trial
inside it (docs/structural.md). A ``StaticSpec`` is one trial's own
structural values; without an envelope its program is exactly its own sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.data import Dataset
from hpfw.models import STRUCTURAL
from hpfw.trainer.optim import family_index, schedule_index
from hpfw.values import plain

# Every continuous hyperparameter: a traced float32 input of the program.
HPARAM_NAMES = (
    "lr",
    "momentum",
    "b1",
    "b2",
    "eps",
    "warmup_fraction",
    "grad_clip_norm",
    "weight_decay",
    "dropout",
    "label_smoothing",
)

# Every model family's structural keys, then the trainer's: traced int32 inputs.
MODEL_STRUCTURE = tuple(dict.fromkeys(k for keys in STRUCTURAL.values() for k in keys))
TRAINER_STRUCTURE = (
    "batch_size",
    "epochs",  # the epoch a trial ends at
    "start_epoch",  # the epoch it starts at (a continuation)
    "schedule_epochs",  # the learning-rate schedule's horizon
    "optimizer",  # index into the program's optimiser families
    "schedule",  # index into optim.SCHEDULES
    "nesterov",
    "clip",
)
STRUCTURE_NAMES = MODEL_STRUCTURE + TRAINER_STRUCTURE
# Part of the signature a checkpoint records: a state saved by an older layout is refused.
STATE_LAYOUT = 2

Hparams = dict[str, jax.Array | np.ndarray]  # host scalars until a program takes them
DataArrays = dict[str, jax.Array]
# The trainer's state between epochs: {"params": ..., "opt_state": ..., "step": int32}.
TrainState = dict[str, Any]
TrainFn = Callable[..., dict[str, Any]]
Range = tuple[int, int]


@dataclass(frozen=True)
class ProgramSpec:
    """What a program is compiled for: hashable, the key of the program cache.

    ``model`` is the model config at the envelope's largest sizes; ``ranges``
    the ``(lo, hi)`` of each of the family's structural keys and of the batch
    size; ``optimizers`` the families it can switch between; ``epochs`` the
    horizon: a trial trains any epochs ``[start, end)`` with ``end <= epochs``.
    ``micro_batches``: when the batch size varies, a step of a trial runs its
    batch as micro-batches of the smallest batch size and sums their
    gradients, rather than one step of the largest batch with the trial's
    rows masked (docs/structural.md: the cost model's choice per device).
    """

    model: tuple[tuple[str, Any], ...]  # the model config's items, sorted
    ranges: tuple[tuple[str, Range], ...]
    optimizers: tuple[str, ...]
    epochs: int
    precision: str
    input_shape: tuple[int, ...]
    num_classes: int
    split_sizes: tuple[int, int, int]  # train, val, test
    micro_batches: bool = False

    @property
    def model_config(self) -> SimpleNamespace:
        return SimpleNamespace(**dict(self.model))

    @property
    def family(self) -> str:
        return str(dict(self.model)["name"])

    def range(self, name: str) -> Range:
        return dict(self.ranges)[name]

    @property
    def model_ranges(self) -> dict[str, Range]:
        return {k: v for k, v in self.ranges if k in STRUCTURAL[self.family]}

    @property
    def batch_size(self) -> int:
        """Rows per step (or micro-batch): a trial's rows beyond its batch are masked.

        The largest batch size, or with ``micro_batches`` the smallest.
        """
        lo, hi = self.range("batch_size")
        return lo if self.micro_batches and self.pads_batch else hi

    @property
    def steps_per_epoch(self) -> int:
        """Steps per epoch of the smallest batch size (larger ones skip the rest)."""
        return self.split_sizes[0] // self.range("batch_size")[0]

    @property
    def pads_batch(self) -> bool:
        lo, hi = self.range("batch_size")
        return lo != hi

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.bfloat16 if self.precision == "bfloat16" else jnp.float32


@dataclass(frozen=True)
class StaticSpec:
    """One trial's structural values, and (``program``) the program it trains on."""

    model: tuple[tuple[str, Any], ...]  # the model config's items, sorted
    optimizer: str
    nesterov: bool
    schedule: str
    clip: bool
    epochs: int
    batch_size: int
    precision: str
    input_shape: tuple[int, ...]
    num_classes: int
    split_sizes: tuple[int, int, int]  # train, val, test
    start_epoch: int = 0  # the program trains epochs [start_epoch, epochs)
    schedule_epochs: int = 0  # the learning-rate schedule's horizon; 0: ``epochs``
    # The program this trial trains on; None: exactly its own sizes (``dedicated``).
    envelope_program: ProgramSpec | None = field(default=None, compare=True)

    @property
    def model_config(self) -> SimpleNamespace:
        return SimpleNamespace(**dict(self.model))

    @property
    def family(self) -> str:
        return str(dict(self.model)["name"])

    @property
    def steps_per_epoch(self) -> int:
        # The last partial batch is dropped so every step has the same shape.
        return self.split_sizes[0] // self.batch_size

    @property
    def run_epochs(self) -> int:
        """Epochs this trial trains (fewer than ``epochs`` when it continues a run)."""
        return self.epochs - self.start_epoch

    @property
    def total_steps(self) -> int:
        """Steps this trial trains."""
        return self.run_epochs * self.steps_per_epoch

    @property
    def schedule_steps(self) -> int:
        return (self.schedule_epochs or self.epochs) * self.steps_per_epoch

    @property
    def signature(self) -> str:
        """What a saved state must match to be continued: all but the epochs and the program."""
        skip = ("epochs", "start_epoch", "envelope_program")
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in skip}
        return repr(sorted([*fields.items(), ("state_layout", STATE_LAYOUT)]))

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.bfloat16 if self.precision == "bfloat16" else jnp.float32

    @cached_property
    def dedicated(self) -> ProgramSpec:
        """The program of exactly this trial's sizes: what a single run compiles."""
        model = dict(self.model)
        ranges = {k: (int(model[k]), int(model[k])) for k in STRUCTURAL[self.family]}
        ranges["batch_size"] = (self.batch_size, self.batch_size)
        return ProgramSpec(
            model=self.model,
            ranges=tuple(sorted(ranges.items())),
            optimizers=(self.optimizer,),
            epochs=self.epochs,
            precision=self.precision,
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            split_sizes=self.split_sizes,
        )

    @property
    def program(self) -> ProgramSpec:
        """The program this trial trains on: its envelope's, or its own (``dedicated``)."""
        return self.envelope_program or self.dedicated

    def structure(self, program: ProgramSpec | None = None) -> dict[str, int]:
        """This trial's structural values as the program's inputs (every name, unused ones 0)."""
        program = program or self.program
        model = dict(self.model)
        values = dict.fromkeys(STRUCTURE_NAMES, 0)
        values.update({k: int(model[k]) for k in STRUCTURAL[self.family]})
        values.update(
            batch_size=self.batch_size,
            epochs=self.epochs,
            start_epoch=self.start_epoch,
            schedule_epochs=self.schedule_epochs or self.epochs,
            optimizer=family_index(program.optimizers, self.optimizer),
            schedule=schedule_index(self.schedule),
            nesterov=int(self.nesterov),
            clip=int(self.clip),
        )
        return values


def static_spec(
    cfg: Any,
    dataset: Dataset,
    start_epoch: int = 0,
    program: Callable[[StaticSpec], ProgramSpec | None] | None = None,
) -> StaticSpec:
    """Reads the static part of a composed config (model, optimiser family, trainer).

    ``program(spec)`` chooses the program the trial trains on (its envelope's,
    ``hpfw.trainer.envelope``); None: its own sizes.
    """
    model_items = tuple(sorted((str(k), plain(v)) for k, v in dict(cfg.model).items()))
    opt = cfg.optimizer
    schedule_epochs = cfg.trainer.get("schedule_epochs")
    spec = StaticSpec(
        model=model_items,
        optimizer=str(opt.name),
        nesterov=bool(opt.get("nesterov", False)),
        schedule=str(plain(opt.schedule)),
        clip=opt.grad_clip_norm is not None,
        epochs=int(cfg.trainer.epochs),
        batch_size=int(cfg.trainer.batch_size),
        precision=str(plain(cfg.trainer.precision)),
        input_shape=tuple(dataset.feature_shape),
        num_classes=int(dataset.num_classes),
        split_sizes=(len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)),
        start_epoch=start_epoch,
        schedule_epochs=int(schedule_epochs or cfg.trainer.epochs),
    )
    chosen = program(spec) if program is not None else None
    if chosen is None or chosen == spec.dedicated:
        return spec
    return StaticSpec(**{**_fields(spec), "envelope_program": chosen})


def _fields(spec: StaticSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in StaticSpec.__dataclass_fields__}


def hparams_from_config(cfg: Any) -> dict[str, float]:
    """Reads every continuous hyperparameter; those a family lacks get a neutral value."""
    opt, reg = cfg.optimizer, cfg.regularization
    clip = opt.grad_clip_norm
    return {
        "lr": float(opt.lr),
        "momentum": float(opt.get("momentum", 0.0)),
        "b1": float(opt.get("b1", 0.9)),
        "b2": float(opt.get("b2", 0.999)),
        "eps": float(opt.get("eps", 1e-8)),
        "warmup_fraction": float(opt.warmup_fraction),
        "grad_clip_norm": float(clip) if clip is not None else 0.0,
        "weight_decay": float(reg.weight_decay),
        "dropout": float(reg.dropout),
        "label_smoothing": float(reg.label_smoothing),
    }


def as_hparams(values: Mapping[str, float]) -> Hparams:
    """``values`` as the program's float32 inputs, in ``HPARAM_NAMES`` order.

    Host (numpy) scalars: a vmapped group stacks a thousand trials' inputs, and
    one ``jnp.asarray`` each cost more host time than the group's training on a GPU.
    """
    return {name: np.asarray(values[name], np.float32) for name in HPARAM_NAMES}


def as_structure(values: Mapping[str, int]) -> Hparams:
    """A trial's structural values as the program's int32 inputs, in ``STRUCTURE_NAMES`` order."""
    return {name: np.asarray(values[name], np.int32) for name in STRUCTURE_NAMES}


def placeholder_hparams() -> Hparams:
    """Zeros for every hyperparameter: inputs to trace or lower a program with."""
    return as_hparams(dict.fromkeys(HPARAM_NAMES, 0.0))


def placeholder_inputs() -> Hparams:
    """Zeros for every hyperparameter and structural value: a program's traced inputs."""
    return {**placeholder_hparams(), **as_structure(dict.fromkeys(STRUCTURE_NAMES, 0))}
