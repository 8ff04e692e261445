"""Decoder-only transformer language model: causal self-attention over learned token positions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.layers import ActivationFn, dropout, site_key


class CausalSelfAttention(nnx.Module):
    """Multi-head self-attention in which each position sees only itself and earlier ones.

    ``jax.nn.dot_product_attention`` does the masking and the softmax (in
    float32 for bfloat16 inputs); no attention-weight dropout, as in the
    classifier's transformer.
    """

    def __init__(self, d_model: int, num_heads: int, *, rngs: nnx.Rngs) -> None:
        self.num_heads = num_heads
        self.qkv = nnx.Linear(d_model, 3 * d_model, rngs=rngs)
        self.out = nnx.Linear(d_model, d_model, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each (B, N, heads, head_dim)
        attended = jax.nn.dot_product_attention(q, k, v, is_causal=True)
        return self.out(attended.reshape(b, n, d))


class DecoderBlock(nnx.Module):
    """Pre-LayerNorm block: causal attention and MLP, each with traced-rate dropout, residual."""

    def __init__(
        self, d_model: int, num_heads: int, mlp_dim: int, act: ActivationFn, *, rngs: nnx.Rngs
    ) -> None:
        self.norm1 = nnx.LayerNorm(d_model, rngs=rngs)
        self.attn = CausalSelfAttention(d_model, num_heads, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d_model, rngs=rngs)
        self.fc1 = nnx.Linear(d_model, mlp_dim, rngs=rngs)
        self.fc2 = nnx.Linear(mlp_dim, d_model, rngs=rngs)
        self.act = act

    def __call__(
        self, x: jax.Array, dropout_rate: float | jax.Array, key: jax.Array | None
    ) -> jax.Array:
        x = x + dropout(self.attn(self.norm1(x)), dropout_rate, site_key(key, 0))
        h = self.fc2(self.act(self.fc1(self.norm2(x))))
        return x + dropout(h, dropout_rate, site_key(key, 1))


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
            [DecoderBlock(d_model, num_heads, mlp_dim, act, rngs=rngs) for _ in range(num_layers)]
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
