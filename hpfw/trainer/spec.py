"""What a training program is compiled for (``StaticSpec``) and what it takes as inputs (hparams).

Everything continuous is a traced input of the program (``HPARAM_NAMES``), so
trials that differ only in those values share one compiled program;
``StaticSpec`` holds everything else and keys the cache of compiled programs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp

from hpfw.data import Dataset
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

Hparams = dict[str, jax.Array]
DataArrays = dict[str, jax.Array]
# The trainer's state between epochs: {"params": ..., "opt_state": ..., "step": int32}.
TrainState = dict[str, Any]
TrainFn = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class StaticSpec:
    """Everything that shapes the compiled program; hashable, the cache key."""

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

    @property
    def model_config(self) -> SimpleNamespace:
        return SimpleNamespace(**dict(self.model))

    @property
    def steps_per_epoch(self) -> int:
        # The last partial batch is dropped so every step has the same shape.
        return self.split_sizes[0] // self.batch_size

    @property
    def run_epochs(self) -> int:
        """Epochs this program trains (fewer than ``epochs`` when it continues a run)."""
        return self.epochs - self.start_epoch

    @property
    def total_steps(self) -> int:
        """Steps this program trains."""
        return self.run_epochs * self.steps_per_epoch

    @property
    def schedule_steps(self) -> int:
        return (self.schedule_epochs or self.epochs) * self.steps_per_epoch

    @property
    def signature(self) -> str:
        """What a saved state must match to be continued: all but the epoch counts."""
        fields = {k: v for k, v in vars(self).items() if k not in ("epochs", "start_epoch")}
        return repr(sorted(fields.items()))

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.bfloat16 if self.precision == "bfloat16" else jnp.float32


def static_spec(cfg: Any, dataset: Dataset, start_epoch: int = 0) -> StaticSpec:
    """Reads the static part of a composed config (model, optimiser family, trainer)."""
    model_items = tuple(sorted((str(k), plain(v)) for k, v in dict(cfg.model).items()))
    opt = cfg.optimizer
    schedule_epochs = cfg.trainer.get("schedule_epochs")
    return StaticSpec(
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
    """``values`` as the program's float32 inputs, in ``HPARAM_NAMES`` order."""
    return {name: jnp.asarray(values[name], jnp.float32) for name in HPARAM_NAMES}


def placeholder_hparams() -> Hparams:
    """Zeros for every hyperparameter: inputs to trace or lower a program with."""
    return as_hparams(dict.fromkeys(HPARAM_NAMES, 0.0))
