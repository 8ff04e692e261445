"""Pre-LayerNorm vision transformer: image rows or patches become tokens with learned positions.

The blocks serve the decoder (models/decoder.py) too. Sizes come from an
envelope (``ranges``) with a trial's own sizes as traced values
(models/masked.py); attention heads are masked as in docs/structural.md: a
trial's ``num_heads`` heads split its ``d_model`` active features into equal
contiguous groups, and a head's scores sum over the features assigned to it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.cnn import image_shape
from hpfw.models.layers import ActivationFn, dropout, site_key
from hpfw.models.masked import (
    Dense,
    LayerNorm,
    Ranges,
    Sizes,
    apply_mask,
    as_key,
    embed_table,
    fixed_ranges,
    sites,
)

STRUCTURAL = ("num_layers", "d_model", "num_heads", "mlp_dim")
_HEAD, _EMBED, _POSITIONS = 1000, 2000, 2001


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


def _head_assignment(sizes: Sizes, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """``[d_model, num_heads]`` one-hot: which head each active feature belongs to; the scale."""
    d, heads = sizes.value("d_model"), sizes.value("num_heads")
    head_dim = jnp.asarray(d, jnp.int32) // jnp.asarray(heads, jnp.int32)
    features = jnp.arange(sizes.hi("d_model"))
    assigned = (features // head_dim)[:, None] == jnp.arange(sizes.hi("num_heads"))[None, :]
    assigned = assigned & (features < d)[:, None]
    return assigned.astype(dtype), jax.lax.rsqrt(head_dim.astype(jnp.float32)).astype(dtype)


class SelfAttention(nnx.Module):
    """Multi-head self-attention without dropout on the weights; ``causal`` for a decoder.

    Written out instead of ``nnx.MultiHeadAttention`` because that module keeps
    its ``rngs`` in its state by default, which would put RNG keys beside the
    parameters in ``nnx.split`` and in any dtype cast the trainer applies to them.
    """

    def __init__(
        self, key: jax.Array, sizes: Sizes, *, causal: bool = False, live: Any = True
    ) -> None:
        d, mask = sizes.hi("d_model"), sizes.mask("d_model")
        fan_in = sizes.value("d_model")
        self.causal = causal
        # [d_in, 3, d_out]: query, key and value share the input axis, which is padded.
        self.qkv = Dense(
            sites(key, 0), d, d, fan_in=fan_in, in_mask=mask, out_mask=mask, groups=(3,), live=live
        )
        self.out = Dense(sites(key, 1), d, d, fan_in=fan_in, in_mask=mask, out_mask=mask, live=live)

    def __call__(self, x: jax.Array, sizes: Sizes) -> jax.Array:
        b, n, d = x.shape
        qkv = self.qkv(x)  # (B, N, 3, d)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if sizes.varies("d_model") or sizes.varies("num_heads"):
            assigned, scale = _head_assignment(sizes, x.dtype)
            scores = jnp.einsum("bqf,bkf,fh->bhqk", q, k, assigned) * scale
        else:
            heads = sizes.hi("num_heads")
            head_dim = d // heads
            q, k = q.reshape(b, n, heads, head_dim), k.reshape(b, n, heads, head_dim)
            # A Python float scale is weakly typed, so it keeps bfloat16 scores bfloat16.
            scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * head_dim**-0.5
        # Softmax in float32: bfloat16 exponentials lose too much precision.
        scores = scores.astype(jnp.float32)
        if self.causal:  # position q attends to positions <= q only
            scores = jnp.where(jnp.tril(jnp.ones((n, n), dtype=bool)), scores, -jnp.inf)
        weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
        if sizes.varies("d_model") or sizes.varies("num_heads"):
            attended = jnp.einsum("bhqk,bkf,fh->bqf", weights, v, assigned)
        else:
            heads = sizes.hi("num_heads")
            v = v.reshape(b, n, heads, d // heads)
            attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, d)
        return self.out(attended)


class Block(nnx.Module):
    """Pre-LayerNorm block: attention and MLP, each with dropout and a residual.

    An encoder block, or with ``causal=True`` a decoder block (models/decoder.py).
    """

    def __init__(
        self,
        key: jax.Array,
        sizes: Sizes,
        act: ActivationFn,
        *,
        causal: bool = False,
        live: Any = True,
    ) -> None:
        d, m = sizes.hi("d_model"), sizes.hi("mlp_dim")
        d_mask, m_mask = sizes.mask("d_model"), sizes.mask("mlp_dim")
        d_value, m_value = sizes.value("d_model"), sizes.value("mlp_dim")
        self.norm1 = LayerNorm(d, d_mask, live=live)
        self.attn = SelfAttention(sites(key, 0), sizes, causal=causal, live=live)
        self.norm2 = LayerNorm(d, d_mask, live=live)
        self.fc1 = Dense(
            sites(key, 1), d, m, fan_in=d_value, in_mask=d_mask, out_mask=m_mask, live=live
        )
        self.fc2 = Dense(
            sites(key, 2), m, d, fan_in=m_value, in_mask=m_mask, out_mask=d_mask, live=live
        )
        self.act = act

    def __call__(
        self, x: jax.Array, dropout_rate: float | jax.Array, key: jax.Array | None, sizes: Sizes
    ) -> jax.Array:
        d_mask, count = sizes.mask("d_model"), sizes.value("d_model")
        attended = apply_mask(self.attn(self.norm1(x, d_mask, count), sizes), d_mask)
        x = x + dropout(attended, dropout_rate, site_key(key, 0))
        h = apply_mask(self.act(self.fc1(self.norm2(x, d_mask, count))), sizes.mask("mlp_dim"))
        h = apply_mask(self.fc2(h), d_mask)
        return x + dropout(h, dropout_rate, site_key(key, 1))


def block_live(sizes: Sizes, i: int) -> Any:
    """Whether block ``i`` runs for the trial: True, or a traced flag if some trials skip it."""
    return True if i < sizes.lo("num_layers") else jnp.asarray(sizes.value("num_layers")) > i


def run_blocks(
    blocks: Any,
    h: jax.Array,
    dropout_rate: float | jax.Array,
    key: jax.Array | None,
    sizes: Sizes,
    first_site: int = 0,
) -> jax.Array:
    """The blocks in order; those beyond a trial's ``num_layers`` are skipped (``lax.cond``)."""
    for i, block in enumerate(blocks):

        def active(h: jax.Array, block: Block = block, i: int = i) -> jax.Array:
            return block(h, dropout_rate, site_key(key, first_site + i), sizes)

        if i < sizes.lo("num_layers"):
            h = active(h)
        else:
            h = jax.lax.cond(i < jnp.asarray(sizes.value("num_layers")), active, lambda h: h, h)
    return h


def transformer_ranges(
    ranges: Ranges | None, num_layers: int, d_model: int, num_heads: int, mlp_dim: int
) -> dict[str, tuple[int, int]]:
    return dict(
        ranges
        or fixed_ranges(
            num_layers=num_layers, d_model=d_model, num_heads=num_heads, mlp_dim=mlp_dim
        )
    )


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
        rngs: Any = None,
        ranges: Ranges | None = None,
        structure: dict[str, Any] | None = None,
    ) -> None:
        key = as_key(rngs)
        self.ranges = transformer_ranges(ranges, num_layers, d_model, num_heads, mlp_dim)
        sizes = Sizes(self.ranges, structure)
        num_tokens, token_dim = token_shape(input_shape, tokens, patch_size)
        d, d_mask, d_value = sizes.hi("d_model"), sizes.mask("d_model"), sizes.value("d_model")
        self.tokens = tokens
        self.patch_size = patch_size
        self.embed = Dense(sites(key, _EMBED), token_dim, d, fan_in=token_dim, out_mask=d_mask)
        # Small init (as in ViT) so positions nudge the embeddings rather than swamp them.
        positions = embed_table(sites(key, _POSITIONS), num_tokens, d, None, std=0.02)
        self.pos = nnx.Param(apply_mask(positions, d_mask))
        self.blocks = nnx.List(
            [
                Block(sites(key, i), sizes, act, live=block_live(sizes, i))
                for i in range(sizes.hi("num_layers"))
            ]
        )
        self.norm = LayerNorm(d, d_mask)
        self.head = Dense(sites(key, _HEAD), d, num_classes, fan_in=d_value, in_mask=d_mask)

    def __call__(
        self,
        x: jax.Array,
        *,
        dropout_rate: float | jax.Array,
        key: jax.Array | None,
        structure: dict[str, Any] | None = None,
    ) -> jax.Array:
        sizes = Sizes(self.ranges, structure)
        h = self.embed(tokenize(x, self.tokens, self.patch_size))
        h = h + self.pos[...].astype(h.dtype)
        h = run_blocks(self.blocks, h, dropout_rate, key, sizes)
        h = self.norm(h, sizes.mask("d_model"), sizes.value("d_model")).mean(axis=1)
        # Logits in float32 so the loss and metrics are stable under bfloat16 params.
        return self.head(h).astype(jnp.float32)
