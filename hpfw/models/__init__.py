"""Flax NNX model families, one module each, built from the ``model`` config group."""

from __future__ import annotations

from typing import Any

from flax import nnx

from hpfw.errors import ConfigError
from hpfw.models import cnn, decoder, mlp, transformer
from hpfw.models.cnn import CNN
from hpfw.models.decoder import Decoder
from hpfw.models.layers import ACTIVATIONS, activation, option
from hpfw.models.masked import Ranges
from hpfw.models.mlp import MLP
from hpfw.models.transformer import Transformer

__all__ = [
    "CNN",
    "MLP",
    "MODEL_NAMES",
    "STRUCTURAL",
    "Decoder",
    "Transformer",
    "build_model",
    "validate_model",
]

MODEL_NAMES = ("mlp", "cnn", "transformer", "decoder")
# Each family's structural keys: sizes a program compiled for an envelope takes as
# traced values (docs/structural.md); every other model key is part of the program.
STRUCTURAL: dict[str, tuple[str, ...]] = {
    "mlp": mlp.STRUCTURAL,
    "cnn": cnn.STRUCTURAL,
    "transformer": transformer.STRUCTURAL,
    "decoder": decoder.STRUCTURAL,
}
TOKENS = ("rows", "patches")


def _int(cfg: Any, name: str, minimum: int) -> int:
    """``cfg.name`` as an int >= minimum, or a ConfigError naming ``model.<name>``."""
    value = option(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ConfigError(f"model.{name}", f"must be an integer {bound}, got {value!r}")
    return value


def _image(name: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of an image input, or a ConfigError when the data is not an image."""
    if len(input_shape) not in (2, 3):
        raise ConfigError(
            "model.name",
            f"{name} needs image inputs (H, W[, C]), but the data has per-sample shape "
            f"{tuple(input_shape)}; use model=mlp for flat features",
        )
    return input_shape[0], input_shape[1]


def _heads(d_model: int, num_heads: int) -> None:
    if d_model % num_heads:
        raise ConfigError(
            "model.d_model",
            f"model.d_model={d_model} must be divisible by model.num_heads={num_heads}",
        )


def _validate_decoder(cfg: Any, input_shape: tuple[int, ...]) -> None:
    """The language model: its inputs are token windows of exactly ``context_length``."""
    _int(cfg, "num_layers", 1)
    _heads(_int(cfg, "d_model", 1), _int(cfg, "num_heads", 1))
    _int(cfg, "mlp_dim", 1)
    context_length = _int(cfg, "context_length", 2)
    if tuple(input_shape) != (context_length,):
        raise ConfigError(
            "model.name",
            f"decoder is a language model over token windows of model.context_length="
            f"{context_length}, but the data has per-sample shape {tuple(input_shape)}; "
            "use task=lm",
        )


def validate_model(cfg: Any, input_shape: tuple[int, ...]) -> None:
    """Check the ``model`` config against itself and the data's per-sample shape.

    Raises ``ConfigError`` naming the offending key; returns None when the model
    can be built.
    """
    name = option(cfg, "name")
    if name not in MODEL_NAMES:
        raise ConfigError("model.name", f"got {name!r}; expected one of {list(MODEL_NAMES)}")
    input_shape = tuple(input_shape)
    if not input_shape or any(int(d) < 1 for d in input_shape):
        raise ConfigError(
            "model.name", f"per-sample input shape {input_shape} must have positive dimensions"
        )
    act = option(cfg, "activation")
    if act not in ACTIVATIONS:
        raise ConfigError("model.activation", f"got {act!r}; expected one of {sorted(ACTIVATIONS)}")

    if name == "mlp":
        _int(cfg, "num_layers", 0)
        _int(cfg, "hidden_dim", 1)
        return
    if name == "decoder":
        _validate_decoder(cfg, input_shape)
        return

    h, w = _image(name, input_shape)
    if name == "cnn":
        _int(cfg, "num_conv_layers", 1)
        _int(cfg, "channels", 1)
        _int(cfg, "kernel_size", 1)
        _int(cfg, "hidden_dim", 1)
        return

    _int(cfg, "num_layers", 1)
    d_model = _int(cfg, "d_model", 1)
    num_heads = _int(cfg, "num_heads", 1)
    _int(cfg, "mlp_dim", 1)
    _heads(d_model, num_heads)
    tokens = option(cfg, "tokens")
    if tokens not in TOKENS:
        raise ConfigError("model.tokens", f"got {tokens!r}; expected one of {list(TOKENS)}")
    if tokens == "patches":
        patch_size = _int(cfg, "patch_size", 1)
        if h % patch_size or w % patch_size:
            raise ConfigError(
                "model.patch_size",
                f"model.patch_size={patch_size} must divide the image height {h} and width {w}",
            )


def build_model(
    cfg: Any,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
    rngs: Any,
    ranges: Ranges | None = None,
    structure: dict[str, Any] | None = None,
) -> nnx.Module:
    """Build the model ``cfg.name`` names; call it as ``model(x, dropout_rate=..., key=...)``.

    ``rngs`` is ``nnx.Rngs``, a key or an int seed: the weights' root key.
    ``ranges`` maps the family's structural keys (``STRUCTURAL``) to ``(lo,
    hi)``: the model is sized for ``hi`` and serves every size down to ``lo``,
    the trial's own sizes given in ``structure`` (traced values; also passed to
    each call as ``structure=``). Without ``ranges`` the model is exactly the
    config's sizes. Validates first, so a bad config fails here with a
    ConfigError rather than deep inside a shape error. Construction only reads
    static shapes and config values, so it also works inside ``jax.jit`` and
    ``jax.vmap`` with a traced key.
    """
    validate_model(cfg, input_shape)
    input_shape = tuple(int(d) for d in input_shape)
    name = option(cfg, "name")
    act = activation(option(cfg, "activation"))
    sizes = {k: option(cfg, k) for k in STRUCTURAL[name]}
    common: dict[str, Any] = {
        "rngs": rngs,
        "ranges": {k: tuple((ranges or {}).get(k, (v, v))) for k, v in sizes.items()},
        "structure": structure,
        "act": act,
        **sizes,
    }
    if name == "mlp":
        return MLP(input_shape=input_shape, num_classes=num_classes, **common)
    if name == "decoder":
        return Decoder(
            vocab_size=num_classes, context_length=option(cfg, "context_length"), **common
        )
    if name == "cnn":
        return CNN(
            input_shape=input_shape,
            num_classes=num_classes,
            kernel_size=option(cfg, "kernel_size"),
            **common,
        )
    return Transformer(
        input_shape=input_shape,
        num_classes=num_classes,
        tokens=option(cfg, "tokens"),
        patch_size=option(cfg, "patch_size"),
        **common,
    )
