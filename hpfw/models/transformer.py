"""Pre-LayerNorm vision transformer: image rows or patches become tokens with learned positions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.cnn import image_shape
from hpfw.models.layers import ActivationFn, dropout, site_key


def token_shape(input_shape: tuple[int, ...], tokens: str, patch_size: int) -> tuple[int, int]:
    """(number of tokens, features per token) for an (H, W[, C]) image."""
    h, w, c = image_shape(input_shape)
    if tokens == "rows":
        return h, w * c
    return (h // patch_size) * (w // patch_size), patch_size * patch_size * c


def tokenize(x: jax.Array, tokens: str, patch_size: int) -> jax.Array:
    """(B, H, W[, C]) -> (B, num_tokens, features) as rows or non-overlapping patches."""
    if x.ndim == 3:
        x = x[..., None]
    b, h, w, c = x.shape
    if tokens == "rows":
        return x.reshape(b, h, w * c)
    p = patch_size
    x = x.reshape(b, h // p, p, w // p, p, c)
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


class SelfAttention(nnx.Module):
    """Multi-head self-attention without dropout on the weights; ``causal`` for a decoder.

    Written out instead of ``nnx.MultiHeadAttention`` because that module keeps
    its ``rngs`` in its state by default, which would put RNG keys beside the
    parameters in ``nnx.split`` and in any dtype cast the trainer applies to them.
    """

    def __init__(
        self, d_model: int, num_heads: int, *, causal: bool = False, rngs: nnx.Rngs
    ) -> None:
        self.num_heads = num_heads
        self.causal = causal
        self.qkv = nnx.Linear(d_model, 3 * d_model, rngs=rngs)
        self.out = nnx.Linear(d_model, d_model, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, d = x.shape
        head_dim = d // self.num_heads
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each (B, N, heads, head_dim)
        # A Python float scale is weakly typed, so it keeps bfloat16 scores bfloat16.
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * head_dim**-0.5
        # Softmax in float32: bfloat16 exponentials lose too much precision.
        scores = scores.astype(jnp.float32)
        if self.causal:  # position q attends to positions <= q only
            scores = jnp.where(jnp.tril(jnp.ones((n, n), dtype=bool)), scores, -jnp.inf)
        weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, d)
        return self.out(attended)


class Block(nnx.Module):
    """Pre-LayerNorm block: attention and MLP, each with dropout and a residual.

    An encoder block, or with ``causal=True`` a decoder block (models/decoder.py).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        mlp_dim: int,
        act: ActivationFn,
        *,
        causal: bool = False,
        rngs: nnx.Rngs,
    ) -> None:
        self.norm1 = nnx.LayerNorm(d_model, rngs=rngs)
        self.attn = SelfAttention(d_model, num_heads, causal=causal, rngs=rngs)
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


class Transformer(nnx.Module):
    """Embed tokens, add learned positions, run ``num_layers`` blocks, mean-pool, classify."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_layers: int,
        d_model: int,
        num_heads: int,
        mlp_dim: int,
        tokens: str,
        patch_size: int,
        act: ActivationFn,
        rngs: nnx.Rngs,
    ) -> None:
        num_tokens, token_dim = token_shape(input_shape, tokens, patch_size)
        self.tokens = tokens
        self.patch_size = patch_size
        self.embed = nnx.Linear(token_dim, d_model, rngs=rngs)
        # Small init (as in ViT) so positions nudge the embeddings rather than swamp them.
        self.pos = nnx.Param(
            nnx.initializers.normal(stddev=0.02)(rngs.params(), (num_tokens, d_model))
        )
        self.blocks = nnx.List(
            [Block(d_model, num_heads, mlp_dim, act, rngs=rngs) for _ in range(num_layers)]
        )
        self.norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.head = nnx.Linear(d_model, num_classes, rngs=rngs)

    def __call__(
        self, x: jax.Array, *, dropout_rate: float | jax.Array, key: jax.Array | None
    ) -> jax.Array:
        h = self.embed(tokenize(x, self.tokens, self.patch_size))
        h = h + self.pos[...].astype(h.dtype)
        for i, block in enumerate(self.blocks):
            h = block(h, dropout_rate, site_key(key, i))
        h = self.norm(h).mean(axis=1)
        # Logits in float32 so the loss and metrics are stable under bfloat16 params.
        return self.head(h).astype(jnp.float32)
