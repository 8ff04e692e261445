"""Decoder-only transformer language model: causal blocks over learned token positions."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.layers import ActivationFn, dropout, site_key
from hpfw.models.masked import (
    Dense,
    LayerNorm,
    Ranges,
    Sizes,
    apply_mask,
    as_key,
    embed_table,
    sites,
)
from hpfw.models.transformer import Block, block_live, run_blocks, transformer_ranges

STRUCTURAL = ("num_layers", "d_model", "num_heads", "mlp_dim")
_HEAD, _EMBED, _POSITIONS = 1000, 2000, 2001


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
        rngs: Any = None,
        ranges: Ranges | None = None,
        structure: dict[str, Any] | None = None,
    ) -> None:
        key = as_key(rngs)
        self.ranges = transformer_ranges(ranges, num_layers, d_model, num_heads, mlp_dim)
        sizes = Sizes(self.ranges, structure)
        d, d_mask, d_value = sizes.hi("d_model"), sizes.mask("d_model"), sizes.value("d_model")
        # Variance 1 / d_model, as nnx.Embed initialises.
        table = embed_table(sites(key, _EMBED), vocab_size, d, d_value, std=None)
        self.embed = nnx.Param(apply_mask(table, d_mask))
        # Small init (as in GPT-2) so positions nudge the embeddings rather than swamp them.
        positions = embed_table(sites(key, _POSITIONS), context_length, d, None, std=0.02)
        self.pos = nnx.Param(apply_mask(positions, d_mask))
        self.blocks = nnx.List(
            [
                Block(sites(key, i), sizes, act, causal=True, live=block_live(sizes, i))
                for i in range(sizes.hi("num_layers"))
            ]
        )
        self.norm = LayerNorm(d, d_mask)
        self.head = Dense(sites(key, _HEAD), d, vocab_size, fan_in=d_value, in_mask=d_mask)

    def __call__(
        self,
        x: jax.Array,
        *,
        dropout_rate: float | jax.Array,
        key: jax.Array | None,
        structure: dict[str, Any] | None = None,
    ) -> jax.Array:
        sizes = Sizes(self.ranges, structure)
        n = x.shape[1]
        h = jnp.take(self.embed[...], x, axis=0)
        h = h + self.pos[...][:n].astype(h.dtype)
        # The embedding output is the only input-side dropout site (site 0); blocks follow.
        h = dropout(h, dropout_rate, site_key(key, 0))
        h = run_blocks(self.blocks, h, dropout_rate, key, sizes, first_site=1)
        # Logits in float32 so the loss and sampling are stable under bfloat16 params.
        h = self.norm(h, sizes.mask("d_model"), sizes.value("d_model"))
        return self.head(h).astype(jnp.float32)
