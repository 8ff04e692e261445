"""Multi-layer perceptron over flattened inputs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.layers import ActivationFn, dropout, site_key


class MLP(nnx.Module):
    """``num_layers`` hidden Linear + activation + dropout layers, then a Linear classifier."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_layers: int,
        hidden_dim: int,
        act: ActivationFn,
        rngs: nnx.Rngs,
    ) -> None:
        in_features = math.prod(input_shape)
        hidden = []
        for _ in range(num_layers):
            hidden.append(nnx.Linear(in_features, hidden_dim, rngs=rngs))
            in_features = hidden_dim
        # nnx.List makes the layers part of the module's state, so nnx.split sees them.
        self.hidden = nnx.List(hidden)
        self.head = nnx.Linear(in_features, num_classes, rngs=rngs)
        self.act = act

    def __call__(
        self, x: jax.Array, *, dropout_rate: float | jax.Array, key: jax.Array | None
    ) -> jax.Array:
        h = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.hidden):
            h = dropout(self.act(layer(h)), dropout_rate, site_key(key, i))
        # Logits in float32 so the loss and metrics are stable under bfloat16 params.
        return self.head(h).astype(jnp.float32)
