"""Small convolutional net: conv + activation + 2x2 max pooling blocks, then a dense head."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.layers import ActivationFn, dropout, site_key


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(H, W) or (H, W, C) as (H, W, C); 2-D images get a single channel."""
    if len(input_shape) == 2:
        return (input_shape[0], input_shape[1], 1)
    h, w, c = input_shape
    return (h, w, c)


class CNN(nnx.Module):
    """``num_conv_layers`` SAME convolutions, each pooled 2x2 while the image is at least 2x2."""

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
        rngs: nnx.Rngs,
    ) -> None:
        h, w, c = image_shape(input_shape)
        convs = []
        pools = []
        for _ in range(num_conv_layers):
            convs.append(
                nnx.Conv(
                    c, channels, kernel_size=(kernel_size, kernel_size), padding="SAME", rngs=rngs
                )
            )
            c = channels
            # Decided here from static shapes, so the forward pass never branches on
            # array values and small images (8x8 digits) survive deep stacks.
            pool = h >= 2 and w >= 2
            pools.append(pool)
            if pool:
                h, w = h // 2, w // 2
        self.convs = nnx.List(convs)
        self.pools = tuple(pools)
        self.image = (h, w, c)
        self.dense = nnx.Linear(h * w * c, hidden_dim, rngs=rngs)
        self.head = nnx.Linear(hidden_dim, num_classes, rngs=rngs)
        self.act = act

    def __call__(
        self, x: jax.Array, *, dropout_rate: float | jax.Array, key: jax.Array | None
    ) -> jax.Array:
        if x.ndim == 3:
            x = x[..., None]
        for conv, pool in zip(self.convs, self.pools, strict=True):
            x = self.act(conv(x))
            if pool:
                x = nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")
        x = x.reshape(x.shape[0], -1)
        x = dropout(self.act(self.dense(x)), dropout_rate, site_key(key, 0))
        # Logits in float32 so the loss and metrics are stable under bfloat16 params.
        return self.head(x).astype(jnp.float32)
