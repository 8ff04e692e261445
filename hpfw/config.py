"""Typed schemas for every config group, stored in Hydra's ConfigStore.

Each YAML option under ``conf/`` extends one of these dataclasses, so a typo in
a key or a value of the wrong type fails when Hydra composes the config, with
Hydra's own message. Range checks that a type cannot express live in
``hpfw.validate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class Objective(StrEnum):
    """Validation metrics a run can return as its objective."""

    val_accuracy = "val_accuracy"
    val_loss = "val_loss"


class Activation(StrEnum):
    relu = "relu"
    gelu = "gelu"
    silu = "silu"
    tanh = "tanh"


class Tokens(StrEnum):
    """How the transformer turns an image into a sequence."""

    rows = "rows"  # one token per image row
    patches = "patches"  # one token per patch_size x patch_size patch


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"
    warmup_cosine = "warmup_cosine"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"
    tpu = "tpu"


class Precision(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"


# --- model/ -----------------------------------------------------------------


@dataclass
class MLPConfig:
    name: str = "mlp"
    num_layers: int = 2  # hidden layers
    hidden_dim: int = 256
    activation: Activation = Activation.relu


@dataclass
class CNNConfig:
    name: str = "cnn"
    num_conv_layers: int = 2  # each conv is followed by 2x2 max pooling while the image allows
    channels: int = 32  # filters per conv layer
    kernel_size: int = 3
    hidden_dim: int = 128  # dense layer after the convolutions
    activation: Activation = Activation.relu


@dataclass
class TransformerConfig:
    name: str = "transformer"
    num_layers: int = 2
    d_model: int = 64  # must be divisible by num_heads
    num_heads: int = 4
    mlp_dim: int = 128
    tokens: Tokens = Tokens.rows
    patch_size: int = 2  # used when tokens=patches
    activation: Activation = Activation.gelu


# --- optimizer/ -------------------------------------------------------------


@dataclass
class OptimizerConfig:
    name: str = MISSING
    lr: float = 1e-3  # peak learning rate
    schedule: Schedule = Schedule.constant
    warmup_fraction: float = 0.1  # of all steps; used by warmup_cosine
    grad_clip_norm: float | None = None  # clip by global norm; null = off


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False


@dataclass
class AdamConfig(OptimizerConfig):
    name: str = "adam"
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8


@dataclass
class AdamWConfig(AdamConfig):
    name: str = "adamw"


# --- regularization/ --------------------------------------------------------


@dataclass
class RegularizationConfig:
    dropout: float = 0.1  # in [0, 1)
    weight_decay: float = 1e-4  # L2 for sgd/adam, decoupled for adamw
    label_smoothing: float = 0.0  # in [0, 1)


# --- data/ ------------------------------------------------------------------


@dataclass
class DataConfig:
    name: str = MISSING
    val_fraction: float = 0.2  # of all samples, when the source has no validation split
    test_fraction: float = 0.2  # of all samples, when the source has no test split
    split_seed: int = 0  # fixed, so every trial sees the same splits


@dataclass
class DigitsConfig(DataConfig):
    name: str = "digits"


@dataclass
class NpzConfig(DataConfig):
    name: str = "npz"
    path: str = MISSING  # .npz with x_train, y_train and optional x_val, y_val, x_test, y_test


# --- trainer/ ---------------------------------------------------------------


@dataclass
class TrainerConfig:
    epochs: int = 20
    batch_size: int = 32
    seed: int = 0
    device: Device = Device.auto
    precision: Precision = Precision.float32
    compilation_cache_dir: str | None = "~/.cache/hpfw/jax"  # null = off
    schedule_epochs: int | None = None  # learning-rate schedule horizon; null = epochs
    checkpoint_dir: str | None = None  # continue from / save the trainer state here


# --- the whole config -------------------------------------------------------


@dataclass
class HpfwConfig:
    model: Any = MISSING
    optimizer: Any = MISSING
    regularization: RegularizationConfig = MISSING
    data: Any = MISSING
    trainer: TrainerConfig = MISSING
    objective: Objective = Objective.val_accuracy


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {"mlp": MLPConfig, "cnn": CNNConfig, "transformer": TransformerConfig},
    "optimizer": {"sgd": SGDConfig, "adam": AdamConfig, "adamw": AdamWConfig},
    "regularization": {"regularization": RegularizationConfig},
    "data": {"digits": DigitsConfig, "npz": NpzConfig},
    "trainer": {"trainer": TrainerConfig},
}


def config_dir() -> Path:
    """The ``conf/`` tree: inside the package in a wheel, beside it in a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"hpfw's conf/ tree is missing next to {package}")


def register_configs() -> None:
    """Store the schemas under ``schema/<group>/<name>`` for the YAML files to extend.

    A separate ``schema`` group keeps them out of ``model=glob(*)`` sweeps.
    """
    cs = ConfigStore.instance()
    cs.store(group="schema", name="hpfw", node=HpfwConfig)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
