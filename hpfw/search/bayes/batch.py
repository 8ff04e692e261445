"""The posterior given pending trials (asked, not yet told) as ``batch_strategy`` says.

``believer`` (Kriging believer) sets each pending trial at the posterior mean
there, ``liar`` at the worst observed score, and ``fantasies`` draws their
outcomes jointly ``FANTASIES`` times and averages log EI over the draws: the
sequential-greedy form of the batch expected improvement (qEI), where a point
is worth what it adds to the pending ones. Call inside ``jax.enable_x64(True)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.search.bayes.gp import NOISE_FLOOR, Hyper, Layout, Posterior, condition, kernel, predict

FANTASIES = 16  # joint draws of the pending outcomes (batch_strategy="fantasies")


@partial(jax.jit, static_argnames=("believer",))
def condition_with_pending(
    hyper: Hyper,
    space: Layout,
    x: jax.Array,
    y: jax.Array,
    real: jax.Array,
    pending: jax.Array,
    lie: jax.Array,
    *,
    believer: bool,
) -> tuple[Posterior, jax.Array]:
    """The posterior given the real rows and fantasy values at the ``pending`` rows.

    A fantasy is the posterior mean there given the real rows (``believer``,
    Kriging believer) or ``lie`` (a constant liar). Returns the posterior and
    the fantasy values (``y`` elsewhere).
    """
    if believer:
        mean, _ = predict(condition(hyper, space, x, y, real), x)
        fantasy = jnp.where(pending > 0, mean, y)
    else:
        fantasy = jnp.where(pending > 0, lie, y)
    return condition(hyper, space, x, fantasy, jnp.maximum(real, pending)), fantasy


@partial(jax.jit, static_argnames=("n_samples",))
def condition_with_samples(
    hyper: Hyper,
    space: Layout,
    x: jax.Array,
    y: jax.Array,
    real: jax.Array,
    pending: jax.Array,
    key: jax.Array,
    *,
    n_samples: int,
) -> tuple[Posterior, jax.Array]:
    """The posterior given the real rows and ``n_samples`` joint draws of the pending rows.

    Each draw of the pending trials' (noisy) outcomes comes from the posterior
    given the real rows, jointly (nearby pending points get similar values).
    The posterior's variance does not depend on the values, so one Cholesky
    serves every draw: ``alpha`` and the returned fantasies get a column per
    draw, and log EI averages over them (``acquisition.log_ei``). That is the
    sequential-greedy form of the batch expected improvement (qEI): a point is
    worth what it adds to the pending ones, averaged over their outcomes.
    """
    base = condition(hyper, space, x, y, real)
    k = kernel(hyper, space.cont, x, x)
    kx = k * real[None, :]
    v = base.chol_inv @ kx.T
    cov = k - v.T @ v
    cov = cov + (NOISE_FLOOR + jnp.exp(hyper.log_noise)) * jnp.eye(len(x), dtype=x.dtype)
    both = pending[:, None] * pending[None, :]
    chol = jnp.linalg.cholesky(cov * both + jnp.diag(1.0 - pending))
    draws = chol @ jax.random.normal(key, (len(x), n_samples), dtype=x.dtype)
    mean = hyper.mean + kx @ base.alpha
    fantasy = jnp.where(pending[:, None] > 0, mean[:, None] + draws, y[:, None])
    return condition(hyper, space, x, fantasy, jnp.maximum(real, pending)), fantasy


def condition_batch(
    hyper: Hyper,
    space: Layout,
    x: jax.Array,
    y: jax.Array,
    real: np.ndarray,
    pending: np.ndarray,
    worst: np.floating,
    how: str,
    seed: int,
) -> tuple[Posterior, jax.Array]:
    """The posterior given the real rows and the pending ones, as ``batch_strategy`` ``how`` says.

    ``believer``: each pending row at the posterior mean; ``liar``: at ``worst``;
    ``fantasies``: ``FANTASIES`` joint draws (``condition_with_samples``), or as
    ``believer`` while nothing is pending (the same proposal, cheaper).
    """
    r, p = jnp.asarray(real), jnp.asarray(pending)
    if how == "fantasies" and pending.any():
        key = jax.random.key(seed)
        return condition_with_samples(hyper, space, x, y, r, p, key, n_samples=FANTASIES)
    believer = how != "liar"
    return condition_with_pending(hyper, space, x, y, r, p, jnp.asarray(worst), believer=believer)
