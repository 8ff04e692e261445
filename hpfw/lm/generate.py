"""Sampling from a language model: one ``lax.scan`` over positions, settings as traced inputs."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from hpfw.lm.fidelity import next_token_distribution

# tokens [S, T] -> logits [S, T, V]
LogitsFn = Callable[[jax.Array], jax.Array]


def sample(
    logits_fn: LogitsFn,
    prompts: jax.Array,
    key: jax.Array,
    *,
    temperature: jax.Array,
    top_p: jax.Array,
    top_k: jax.Array,
    prompt_length: jax.Array,
    length: jax.Array,
) -> jax.Array:
    """Continues ``prompts`` [S, T] past their first ``prompt_length`` tokens, up to ``length``.

    Returns int32 [S, T]: the prompt, then sampled tokens; positions from
    ``length`` on keep the prompt buffer's values (callers cut them off). Every
    setting is a traced scalar, so one compiled program serves all of them; the
    same ``key`` gives the same samples.

    Each step runs the model over the whole window and reads the logits at the
    current position: with the causal mask the later (not yet sampled) tokens
    cannot influence it. A key-value cache would save work, but at the context
    lengths this task uses the full pass is cheap and keeps the model one module.
    """
    tokens = prompts.astype(jnp.int32)

    def step(tokens: jax.Array, position: jax.Array) -> tuple[jax.Array, None]:
        logits = jax.lax.dynamic_index_in_dim(logits_fn(tokens), position, axis=1, keepdims=False)
        probs = next_token_distribution(logits, temperature, top_p, top_k)
        # log(0) = -inf: filtered tokens are never drawn.
        drawn = jax.random.categorical(jax.random.fold_in(key, position), jnp.log(probs))
        target = position + 1
        current = jax.lax.dynamic_index_in_dim(tokens, target, axis=1, keepdims=False)
        write = (target >= prompt_length) & (target < length)
        new = jnp.where(write, drawn.astype(jnp.int32), current)
        return jax.lax.dynamic_update_index_in_dim(tokens, new, target, axis=1), None

    tokens, _ = jax.lax.scan(step, tokens, jnp.arange(tokens.shape[1] - 1))
    return tokens
