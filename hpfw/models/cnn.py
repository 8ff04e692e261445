"""Small convolutional net: conv + activation + 2x2 max pooling blocks, then a dense head."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.conv import max_pool_2x2
from hpfw.models.layers import ActivationFn, dropout, site_key
from hpfw.models.masked import (
    Conv,
    Dense,
    Ranges,
    Sizes,
    SpatialDense,
    apply_mask,
    as_key,
    fixed_ranges,
    sites,
)

STRUCTURAL = ("num_conv_layers", "channels", "hidden_dim")
_DENSE = 100  # the dense layer after L convolutions is weight site 100 + L
_HEAD = 1000


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(H, W) or (H, W, C) as (H, W, C); 2-D images get a single channel."""
    if len(input_shape) == 2:
        return (input_shape[0], input_shape[1], 1)
    h, w, c = input_shape
    return (h, w, c)


def pooled_shapes(input_shape: tuple[int, ...], depth: int) -> tuple[list[bool], tuple[int, int]]:
    """Which of ``depth`` convs pool 2x2, and the (H, W) after them.

    Decided from static shapes, so the forward pass never branches on array
    values and small images (8x8 digits) survive deep stacks.
    """
    h, w, _ = image_shape(input_shape)
    pools = []
    for _ in range(depth):
        pool = h >= 2 and w >= 2
        pools.append(pool)
        if pool:
            h, w = h // 2, w // 2
    return pools, (h, w)


def _live(sizes: Sizes, i: int) -> Any:
    """Whether conv ``i`` runs for the trial: True, or a traced flag if some trials skip it."""
    key = "num_conv_layers"
    return True if i < sizes.lo(key) else jnp.asarray(sizes.value(key)) > i


class CNN(nnx.Module):
    """``num_conv_layers`` SAME convolutions, each pooled 2x2 while the image is at least 2x2.

    Built for ``ranges`` of depth, channels and hidden units (by default exactly
    the given sizes). The feature map after ``L`` convolutions has its own
    shape, so each depth the envelope allows has its own dense layer
    (``dense<L>``) and a trial runs the branch of its depth (``lax.switch``).
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_conv_layers: int,
        channels: int,
        kernel_size: int,
        hidden_dim: int,
        act: ActivationFn,
        rngs: Any = None,
        ranges: Ranges | None = None,
        structure: dict[str, Any] | None = None,
    ) -> None:
        key = as_key(rngs)
        self.ranges = dict(
            ranges
            or fixed_ranges(
                num_conv_layers=num_conv_layers, channels=channels, hidden_dim=hidden_dim
            )
        )
        sizes = Sizes(self.ranges, structure)
        self.input_shape = tuple(input_shape)
        _, _, c_in = image_shape(input_shape)
        c_max, h_max = sizes.hi("channels"), sizes.hi("hidden_dim")
        channel_mask, unit_mask = sizes.mask("channels"), sizes.mask("hidden_dim")
        channels_value = sizes.value("channels")
        k = kernel_size
        convs = []
        for i in range(sizes.hi("num_conv_layers")):
            convs.append(
                Conv(
                    sites(key, i),
                    c_in if i == 0 else c_max,
                    c_max,
                    k,
                    fan_in=k * k * (c_in if i == 0 else channels_value),
                    in_mask=None if i == 0 else channel_mask,
                    out_mask=channel_mask,
                    live=_live(sizes, i),
                )
            )
        self.convs = nnx.List(convs)
        self.depths = tuple(range(sizes.lo("num_conv_layers"), sizes.hi("num_conv_layers") + 1))
        for depth in self.depths:
            _, (h, w) = pooled_shapes(input_shape, depth)
            dense = SpatialDense(
                sites(key, _DENSE + depth),
                (h, w, c_max),
                h_max,
                fan_in=h * w * channels_value,
                in_mask=channel_mask,
                out_mask=unit_mask,
                live=(
                    jnp.asarray(sizes.value("num_conv_layers")) == depth
                    if sizes.varies("num_conv_layers")
                    else True
                ),
            )
            setattr(self, f"dense{depth}", dense)
        self.head = Dense(
            sites(key, _HEAD),
            h_max,
            num_classes,
            fan_in=sizes.value("hidden_dim"),
            in_mask=unit_mask,
        )
        self.act = act

    def _features(self, x: jax.Array, depth: int, channel_mask: jax.Array | None) -> jax.Array:
        """The dense layer's output after ``depth`` convolutions: ``[B, hidden]``."""
        pools, _ = pooled_shapes(self.input_shape, depth)
        for conv, pool in zip(list(self.convs)[:depth], pools, strict=True):
            x = apply_mask(self.act(conv(x)), channel_mask)
            if pool:
                x = max_pool_2x2(x)
        return getattr(self, f"dense{depth}")(x)

    def __call__(
        self,
        x: jax.Array,
        *,
        dropout_rate: float | jax.Array,
        key: jax.Array | None,
        structure: dict[str, Any] | None = None,
    ) -> jax.Array:
        sizes = Sizes(self.ranges, structure)
        if x.ndim == 3:
            x = x[..., None]
        channel_mask = sizes.mask("channels")
        branches = [
            lambda x, depth=depth: self._features(x, depth, channel_mask) for depth in self.depths
        ]
        if len(branches) == 1:
            h = branches[0](x)
        else:
            index = jnp.asarray(sizes.value("num_conv_layers")) - self.depths[0]
            h = jax.lax.switch(index, branches, x)
        h = apply_mask(self.act(h), sizes.mask("hidden_dim"))
        h = dropout(h, dropout_rate, site_key(key, 0))
        # Logits in float32 so the loss and metrics are stable under bfloat16 params.
        return self.head(h).astype(jnp.float32)
