"""Forward FLOPs per sample of each model family, counted from its sizes (matmuls and convs).

The cost model (``hpfw.trainer.costs``) prices hundreds of candidate
envelopes; lowering each with XLA's cost analysis (``hpfw.trainer.flops``,
~0.3 s a program) would cost more than it decides, so it counts here.
``tests/test_structural.py`` checks these counts against XLA's for every
family.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from hpfw.models.cnn import image_shape, pooled_shapes
from hpfw.models.transformer import token_shape


def forward_flops(
    model: Mapping[str, Any],
    sizes: Mapping[str, float],
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    heads_padded: bool = False,
) -> float:
    """FLOPs of one forward pass of one sample (2 per multiply-add).

    ``model`` holds the static keys (``name``, ``kernel_size``, ``tokens``,
    ``patch_size``); ``sizes`` the structural ones (widths as computed, depth
    as run). ``heads_padded``: attention scores are summed per head over all
    features (a program whose ``d_model`` or ``num_heads`` varies).
    """
    name = model["name"]
    if name == "mlp":
        features = math.prod(input_shape)
        layers, hidden = int(sizes["num_layers"]), sizes["hidden_dim"]
        if layers == 0:
            return 2.0 * features * num_classes
        dims = [features, *[hidden] * layers, num_classes]
        return 2.0 * sum(a * b for a, b in itertools.pairwise(dims))
    if name == "cnn":
        return _cnn(model, sizes, input_shape, num_classes)
    if name == "transformer":
        tokens, token_dim = token_shape(input_shape, model["tokens"], model["patch_size"])
        embed = 2.0 * tokens * token_dim * sizes["d_model"]
        return embed + _blocks(tokens, sizes, heads_padded) + 2.0 * sizes["d_model"] * num_classes
    # decoder: logits at every position
    tokens = input_shape[0]
    head = 2.0 * tokens * sizes["d_model"] * num_classes
    return _blocks(tokens, sizes, heads_padded) + head


def param_count(
    model: Mapping[str, Any], sizes: Mapping[str, float], input_shape: tuple[int, ...], classes: int
) -> float:
    """Weights of a model at ``sizes`` (matmul and convolution kernels; biases left out).

    What the optimiser updates every step, whatever rows or depth a trial runs:
    a program's weights are its envelope's, so a padded program updates all of them.
    """
    name = model["name"]
    if name == "mlp":
        return forward_flops(model, sizes, input_shape, classes) / 2.0
    if name == "cnn":
        _, _, c_in = image_shape(input_shape)
        depth, channels, k = int(sizes["num_conv_layers"]), sizes["channels"], model["kernel_size"]
        _, (h_out, w_out) = pooled_shapes(input_shape, depth)
        convs = k * k * channels * (c_in + (depth - 1) * channels)
        return (
            convs + h_out * w_out * channels * sizes["hidden_dim"] + sizes["hidden_dim"] * classes
        )
    d, m = sizes["d_model"], sizes["mlp_dim"]
    blocks = int(sizes["num_layers"]) * d * (4 * d + 2 * m)
    if name == "transformer":
        _, token_dim = token_shape(input_shape, model["tokens"], model["patch_size"])
        return token_dim * d + blocks + d * classes
    return blocks + d * classes  # decoder: its embedding table is a lookup, not a matmul


def _cnn(
    model: Mapping[str, Any], sizes: Mapping[str, float], input_shape: tuple[int, ...], classes: int
) -> float:
    h, w, c_in = image_shape(input_shape)
    depth, channels, k = int(sizes["num_conv_layers"]), sizes["channels"], model["kernel_size"]
    pools, (h_out, w_out) = pooled_shapes(input_shape, depth)
    total = 0.0
    for i, pool in enumerate(pools):
        total += 2.0 * h * w * k * k * (c_in if i == 0 else channels) * channels
        if pool:
            h, w = h // 2, w // 2
    total += 2.0 * h_out * w_out * channels * sizes["hidden_dim"]
    return total + 2.0 * sizes["hidden_dim"] * classes


def _blocks(tokens: int, sizes: Mapping[str, float], heads_padded: bool) -> float:
    d, m = sizes["d_model"], sizes["mlp_dim"]
    projections = 2.0 * tokens * d * (3 * d + d + 2 * m)
    attention = 2.0 * 2 * tokens * tokens * d  # scores and the weighted sum of values
    if heads_padded:  # each head sums over every feature (models/transformer.py)
        attention *= sizes["num_heads"]
    return int(sizes["num_layers"]) * (projections + attention)
