"""Decoder-only transformer language model: causal blocks over learned token positions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.layers import ActivationFn, dropout, site_key
from hpfw.models.transformer import Block


class Decoder(nnx.Module):
    """Token ids [B, T] -> next-token logits [B, T, vocab_size] (position t sees tokens <= t)."""

    def __init__(
        self,
        *,
        vocab_size: int,
        context_length: int,
        num_layers: int,
        d_model: int,
        num_heads: int,
        mlp_dim: int,
        act: ActivationFn,
        rngs: nnx.Rngs,
    ) -> None:
        self.embed = nnx.Embed(vocab_size, d_model, rngs=rngs)
        # Small init (as in GPT-2) so positions nudge the embeddings rather than swamp them.
        self.pos = nnx.Param(
            nnx.initializers.normal(stddev=0.02)(rngs.params(), (context_length, d_model))
        )
        self.blocks = nnx.List(
            [
                Block(d_model, num_heads, mlp_dim, act, causal=True, rngs=rngs)
                for _ in range(num_layers)
            ]
        )
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.head = nnx.Linear(d_model, vocab_size, rngs=rngs)

    def __call__(
        self, x: jax.Array, *, dropout_rate: float | jax.Array, key: jax.Array | None
    ) -> jax.Array:
        n = x.shape[1]
        h = self.embed(x)
        h = h + self.pos[...][:n].astype(h.dtype)
        # The embedding output is the only input-side dropout site (site 0); blocks follow.
        h = dropout(h, dropout_rate, site_key(key, 0))
        for i, block in enumerate(self.blocks):
            h = block(h, dropout_rate, site_key(key, i + 1))
        # Logits in float32 so the loss and sampling are stable under bfloat16 params.
        return self.head(self.norm(h)).astype(jnp.float32)
