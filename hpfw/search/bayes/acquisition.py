"""Log expected improvement, computed stably, and its maximisation over the unit cube.

``log_h`` follows Ament et al. (2023), "Unexpected Improvements to Expected
Improvement for Bayesian Optimization", and BoTorch's ``_log_ei_helper``:
EI itself underflows to 0 a few standard deviations away from the incumbent,
which leaves the optimiser no gradient, while log EI stays finite and smooth.
Everything here is "lower is better" and runs in float64.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import erfcx, logsumexp, ndtr

from hpfw.search.bayes.gp import Posterior, predict

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2)
REFINE_LR = 0.01  # Adam's step on the unit cube


def _log1mexp(w: jax.Array) -> jax.Array:
    """log(1 - exp(w)) for w < 0, accurate on both sides of -log 2 (Maechler 2012)."""
    return jnp.where(w > -math.log(2.0), jnp.log(-jnp.expm1(w)), jnp.log1p(-jnp.exp(w)))


def log_h(z: jax.Array) -> jax.Array:
    """log(phi(z) + z * Phi(z)), finite for every finite z.

    For z > -1 the sum is computed directly. Below, it is rewritten as
    phi(z) * (1 - |z| * Phi(z) / phi(z)) with Phi / phi = sqrt(pi / 2) *
    erfcx(-z / sqrt 2), so no tiny numbers are subtracted; past -1/sqrt(eps)
    the bracket is 1/z^2 to working precision.
    """
    eps = jnp.finfo(z.dtype).eps
    upper = z > -1.0
    # Each branch sees only arguments it handles, so neither leaks NaN into gradients.
    zu = jnp.where(upper, z, -1.0)
    log_upper = jnp.log(jnp.exp(-0.5 * zu * zu - _LOG_SQRT_2PI) + zu * ndtr(zu))
    zl = jnp.where(upper, -1.0, z)
    bound = -1.0 / jnp.sqrt(eps)
    zc = jnp.maximum(zl, bound)
    w = jnp.log(erfcx(-zc / math.sqrt(2.0)) * jnp.abs(zc)) + _LOG_SQRT_PI_2
    log_phi = -0.5 * zl * zl - _LOG_SQRT_2PI
    log_lower = log_phi + jnp.where(zl > bound, _log1mexp(w), -2.0 * jnp.log(jnp.abs(zl)))
    return jnp.where(upper, log_upper, log_lower)


def log_ei(post: Posterior, xq: jax.Array, best: jax.Array) -> jax.Array:
    """Log expected improvement below ``best`` at the rows of ``xq``.

    With fantasy draws of pending trials (``gp.condition_with_samples``: a mean
    column and a ``best`` per draw), the log of the EI averaged over the draws.
    """
    mean, var = predict(post, xq)
    sigma = jnp.sqrt(var)
    if mean.ndim == 1:
        return log_h((best - mean) / sigma) + jnp.log(sigma)
    sigma = sigma[:, None]
    values = log_h((best[None, :] - mean) / sigma) + jnp.log(sigma)
    return logsumexp(values, axis=1) - math.log(mean.shape[1])


@jax.jit
def score(post: Posterior, xq: jax.Array, best: jax.Array) -> jax.Array:
    """Log EI at the rows of ``xq``, with -inf where it is not finite."""
    values = log_ei(post, xq, best)
    return jnp.where(jnp.isfinite(values), values, -jnp.inf)


@partial(jax.jit, static_argnames=("n_restarts", "steps"))
def maximise(
    post: Posterior,
    best: jax.Array,
    candidates: jax.Array,
    free: jax.Array,
    *,
    n_restarts: int,
    steps: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Sweeps ``candidates``, then refines the ``n_restarts`` best by projected Adam.

    Only the dimensions where ``free`` is 1 move (one-hot blocks stay put);
    each step is clipped back into the unit cube, and each start keeps the best
    point it visited. Returns the refined points and values, best first, and
    the log EI of every candidate (for fallbacks).
    """
    sweep = score(post, candidates, best)
    _, top = jax.lax.top_k(sweep, n_restarts)
    opt = optax.adam(REFINE_LR)

    def value(x: jax.Array) -> jax.Array:
        return log_ei(post, x[None, :], best)[0]

    value_and_grad = jax.value_and_grad(value)

    def refine(x0: jax.Array) -> tuple[jax.Array, jax.Array]:
        def step(carry, _):
            x, state, best_x, best_v = carry
            v, g = value_and_grad(x)
            better = v > best_v
            best_x = jnp.where(better, x, best_x)
            best_v = jnp.where(better, v, best_v)
            updates, state = opt.update(-g * free, state, x)  # ascent
            x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
            return (x, state, best_x, best_v), None

        init = (x0, opt.init(x0), x0, value(x0))
        (x, _, best_x, best_v), _ = jax.lax.scan(step, init, None, length=steps)
        v = value(x)
        return jnp.where(v > best_v, x, best_x), jnp.maximum(v, best_v)

    xs, vs = jax.vmap(refine)(candidates[top])
    vs = jnp.where(jnp.isfinite(vs), vs, -jnp.inf)
    order = jnp.argsort(-vs)
    return xs[order], vs[order], sweep
