"""Typed schemas for every config group, stored in Hydra's ConfigStore.

Each YAML option under ``conf/`` extends one of these dataclasses, so a typo in
a key or a value of the wrong type fails when Hydra composes the config, with
Hydra's own message. Range checks that a type cannot express live in
``hpfw.trainer.validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class Objective(StrEnum):
    """Validation metrics a run can return as its objective."""

    val_accuracy = "val_accuracy"
    val_loss = "val_loss"
    gen_tv = "gen_tv"  # task=lm: mean total variation of the sampler from the true source


def metric_direction(metric: str) -> str:
    """The direction a sweep optimises one of hpfw's metrics in.

    Accuracies and rates (``*_per_second``) are maximised; losses, the ``gen_tv``
    distance, times and sizes are minimised. hpfw's app tells its sweeper this
    direction for the configured objective (``hpfw.app.sweep_defaults``), so a
    sweep follows ``objective=val_loss``; a value given on the command line wins.
    """
    maximised = metric.endswith("accuracy") or metric.endswith("_per_second")
    return "maximize" if maximised else "minimize"


def tie_breaker(objective: str) -> str | None:
    """The metric that separates trials tied on ``objective`` (``hpfw.app.sweep_defaults``).

    Accuracy on a small validation split is coarse (36 samples: steps of 1/36),
    so many trials can tie; among them the one with the lower validation loss
    is the better model. A loss rarely ties, but its accuracy separates it;
    ``gen_tv`` falls back on the held-out loss.
    """
    if objective.endswith("accuracy"):
        return objective.removesuffix("accuracy") + "loss"
    if objective.endswith("loss"):
        return objective.removesuffix("loss") + "accuracy"
    return "val_loss" if objective == Objective.gen_tv else None


class Task(StrEnum):
    """What a run trains: an image classifier or a language model."""

    classify = "classify"
    lm = "lm"


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


@dataclass
class DecoderConfig:
    """Decoder-only (causal) transformer language model for ``task=lm``."""

    name: str = "decoder"
    num_layers: int = 2
    d_model: int = 64  # must be divisible by num_heads
    num_heads: int = 4
    mlp_dim: int = 128
    context_length: int = 32  # tokens per training window; also the longest generated sample
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


@dataclass
class MarkovConfig:
    """A corpus sampled from a seeded order-``order`` Markov chain over ``vocab_size`` tokens.

    Its true next-token distribution is known exactly, so ``gen_tv`` can be computed.
    """

    name: str = "markov"
    vocab_size: int = 16
    order: int = 2  # tokens of context the source conditions on
    concentration: float = 0.3  # Dirichlet concentration of each next-token row; small = peaked
    source_seed: int = 0  # fixes the transition table
    train_windows: int = 4000  # independent documents of model.context_length + 1 tokens
    val_windows: int = 500
    test_windows: int = 500
    split_seed: int = 0  # fixes which documents are sampled
    default_objective: Objective = Objective.gen_tv  # what task=lm minimises on this data


@dataclass
class TextConfig:
    """A user's UTF-8 text file, one token per character, cut into windows."""

    name: str = "text"
    path: str = MISSING
    val_fraction: float = 0.1  # of the characters (a contiguous block near the end)
    test_fraction: float = 0.1  # of the characters (the last contiguous block)
    default_objective: Objective = Objective.val_loss  # no true source: held-out loss


# --- trainer/ ---------------------------------------------------------------


@dataclass
class EnvelopeConfig:
    """The values of each structural key in a sweep, set by hpfw's sweeper (docs/structural.md).

    A key left null is each trial's own value; all null: the run pads nothing.
    """

    num_layers: list[int] | None = None  # model.num_layers
    hidden_dim: list[int] | None = None  # model.hidden_dim
    num_conv_layers: list[int] | None = None  # model.num_conv_layers
    channels: list[int] | None = None  # model.channels
    d_model: list[int] | None = None  # model.d_model
    num_heads: list[int] | None = None  # model.num_heads
    mlp_dim: list[int] | None = None  # model.mlp_dim
    batch_size: list[int] | None = None  # trainer.batch_size
    epochs: list[int] | None = None  # trainer.epochs (the largest is the programs' horizon)
    optimizer: list[str] | None = None  # optimiser families (optimizer.name)
    trials: int | None = None  # trials in the sweep: weighs compiles against padding
    group: int | None = None  # trials launched at once (the sweep's batch): a vmapped group


ENVELOPE_KEY = "trainer.envelope"


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
    # Set by hpfw's sweeper; every field null (the default): pad nothing.
    envelope: EnvelopeConfig = field(default_factory=EnvelopeConfig)


# --- generation/ (task=lm) -------------------------------------------------


@dataclass
class GenerationConfig:
    """How the language model samples; every value but ``checkpoint`` is a traced input."""

    temperature: float = 1.0  # > 0; logits are divided by it
    top_p: float = 1.0  # in (0, 1]: keep the smallest set of tokens whose probability reaches it
    top_k: int = 0  # keep the k most likely tokens; 0 = off
    seed: int = 0  # sampling key; the same seed gives the same samples
    num_samples: int = 4  # decoded samples in metrics.json and the log (0..16)
    prompt_length: int = 4  # tokens of each held-out window the samples continue
    sample_length: int | None = None  # tokens per sample, prompt included; null = context_length
    checkpoint: str | None = None  # a trained run's trainer.checkpoint_dir: evaluate, do not train


# --- the whole config -------------------------------------------------------


@dataclass
class HpfwConfig:
    model: Any = MISSING
    optimizer: Any = MISSING
    regularization: RegularizationConfig = MISSING
    data: Any = MISSING
    trainer: TrainerConfig = MISSING
    task: Task = Task.classify
    generation: Any = None  # GenerationConfig with task=lm (conf/generation/), else absent
    objective: Objective = Objective.val_accuracy


SCHEMAS: dict[str, dict[str, type]] = {
    "model": {
        "mlp": MLPConfig,
        "cnn": CNNConfig,
        "transformer": TransformerConfig,
        "decoder": DecoderConfig,
    },
    "optimizer": {"sgd": SGDConfig, "adam": AdamConfig, "adamw": AdamWConfig},
    "regularization": {"regularization": RegularizationConfig},
    "data": {"digits": DigitsConfig, "npz": NpzConfig, "markov": MarkovConfig, "text": TextConfig},
    "generation": {"generation": GenerationConfig},
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

    A separate ``schema`` group keeps them out of ``model=glob(*)`` sweeps (and
    ``hpfw.help`` out of ``hpfw --help``). Also registers the resolver that
    conf/hydra/help/hpfw.yaml uses.
    """
    from omegaconf import OmegaConf

    from hpfw.help import GROUPS_RESOLVER, config_groups

    OmegaConf.register_new_resolver(GROUPS_RESOLVER, config_groups, replace=True)
    cs = ConfigStore.instance()
    cs.store(group="schema", name="hpfw", node=HpfwConfig)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
