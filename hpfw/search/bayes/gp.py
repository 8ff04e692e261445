"""An exact Gaussian process on padded, masked data: Matern-5/2 kernel, MAP hyperparameters.

Call these functions inside ``jax.enable_x64(True)`` with float64 arrays: the
Cholesky factors of nearly singular kernel matrices need the precision. Every
array of observations has a fixed "bucket" length with a ``mask`` marking the
real rows, so a growing history reuses one compiled program per bucket. A
padded row is decoupled from the rest (zero covariance, unit variance, zero
target), which leaves the likelihood and the posterior of the real rows exact.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.linalg import solve_triangular

NOISE_FLOOR = 1e-6  # noise variance never drops below this (keeps Cholesky stable)
SQRT5 = math.sqrt(5.0)
# Hyperparameters are optimised in log space and clipped to these boxes, which
# hold every sensible fit of standardised data on the unit cube.
LOG_LS_BOUNDS = (math.log(1e-3), math.log(1e3))
LOG_SCALE_BOUNDS = (math.log(1e-3), math.log(1e2))
LOG_NOISE_BOUNDS = (math.log(1e-9), math.log(1.0))
MEAN_BOUNDS = (-5.0, 5.0)
FIT_LR = 0.05  # Adam's step in log-hyperparameter space


class Hyper(NamedTuple):
    """GP hyperparameters: constant mean, log lengthscales, log outputscale(s), log noise.

    ``log_scale`` is a scalar for one Matern kernel over every dimension, or
    three values for the mixed kernel (see ``kernel``).
    """

    mean: jax.Array
    log_ls: jax.Array
    log_scale: jax.Array
    log_noise: jax.Array


class Layout(NamedTuple):
    """What the model knows of the encoded space, fixed for a strategy's lifetime."""

    cont: jax.Array  # 1.0 for a continuous dimension, 0.0 for an integer or one-hot one
    log_ls_centre: jax.Array  # log of the lengthscale prior's centre (``ls_prior_nlp``)
    log_normal: jax.Array  # 1.0: Hvarfner et al.'s log-normal lengthscale prior instead


def bucket(n: int) -> int:
    """The padded length for ``n`` rows: 16, then powers of two to 256, then steps of 128."""
    if n <= 16:
        return 16
    if n <= 256:
        return 1 << (n - 1).bit_length()
    return -(-n // 128) * 128


def padded_design(
    rows: list, width: int, y_complete: np.ndarray, n_failed: int, at_least: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The design matrix and targets padded to ``bucket(max(len(rows), at_least))`` rows.

    ``rows`` are the completed trials' points, then the failed ones' (given the
    worst completed target, so the model steers away from them), then any
    pending ones (target 0: their rows are masked out of the fit). ``at_least``:
    the rows a whole ``ask(q)`` will reach, so its proposals share one size (a
    bucket crossed halfway through a batch would compile its programs in two asks).
    """
    size = bucket(max(len(rows), at_least))
    x = np.full((size, width), 0.5)
    x[: len(rows)] = rows
    y = np.zeros(size)
    n = len(y_complete)
    y[:n] = y_complete
    y[n : n + n_failed] = y_complete.max()
    return x, y


def layout(cont: np.ndarray, ls_centre: float = 1.0, log_normal: bool = False) -> Layout:
    """The ``Layout`` of an encoded space with continuous dimensions ``cont``."""
    f64 = jnp.float64
    return Layout(
        jnp.asarray(cont, f64),
        jnp.asarray(math.log(ls_centre), f64),
        jnp.asarray(float(log_normal), f64),
    )


class Posterior(NamedTuple):
    """What prediction needs: the data, the hyperparameters, ``L^-1`` and ``K^-1 (y - m)``.

    ``L^-1`` (the inverse Cholesky factor) is kept rather than ``L``: a matrix
    product is much faster on a CPU than a triangular solve per query point.
    """

    hyper: Hyper
    layout: Layout
    x: jax.Array
    mask: jax.Array
    chol_inv: jax.Array
    alpha: jax.Array


def lengthscale_prior_mu(dim: int) -> float:
    """Hvarfner et al. (2024): LogNormal(sqrt(2) + log(d) / 2, sqrt(3)) lengthscales."""
    return math.sqrt(2.0) + 0.5 * math.log(dim)


def prior_mode(dim: int, mixed: bool = False) -> Hyper:
    """A starting point: the modes of the priors (as MAP sees them)."""
    # Explicit float64 (not weak types): a later fit, warm-started from a strongly
    # typed previous fit, then reuses this program instead of compiling another.
    f64 = jnp.float64
    return Hyper(
        mean=jnp.zeros((), f64),
        log_ls=jnp.full((dim,), lengthscale_prior_mu(dim) - 3.0, f64),
        log_scale=jnp.full((3,), -1.0, f64) if mixed else jnp.zeros((), f64),
        log_noise=jnp.full((), -5.0, f64),
    )


def _matern52(r2: jax.Array) -> jax.Array:
    # The kernel is smooth at r = 0 but sqrt's gradient is not: clamp below its reach.
    r = jnp.sqrt(jnp.maximum(r2, 1e-36))
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * jnp.exp(-SQRT5 * r)


def kernel(hyper: Hyper, cont: jax.Array, x1: jax.Array, x2: jax.Array) -> jax.Array:
    """The prior covariance between the rows of ``x1`` and ``x2``.

    One scale: a Matern-5/2 kernel over every dimension. Three scales: with
    ``Kc`` and ``Kd`` Matern kernels over the continuous and the discrete
    (integer, one-hot) dimensions, ``s0 Kc Kd + s1 Kc + s2 Kd`` (BoTorch's
    ``MixedSingleTaskGP`` has this form). The sum terms carry what is learnt
    at one discrete value over to the others: a choice tried only with poor
    continuous settings is no longer judged by those alone.
    """
    inverse = jnp.exp(-hyper.log_ls)
    z1, z2 = x1 * inverse, x2 * inverse
    scale = jnp.exp(hyper.log_scale)
    if hyper.log_scale.ndim == 0:
        return scale * _matern52(_squared_distances(z1, z2))
    kc = _matern52(_squared_distances(z1 * cont, z2 * cont))
    kd = _matern52(_squared_distances(z1 * (1.0 - cont), z2 * (1.0 - cont)))
    return scale[0] * kc * kd + scale[1] * kc + scale[2] * kd


def _squared_distances(z1: jax.Array, z2: jax.Array) -> jax.Array:
    """``|a - b|^2`` between the rows of ``z1`` and ``z2``, as ``|a|^2 + |b|^2 - 2 a.b``.

    The matrix product form (GPyTorch's) instead of summing an ``(n, m, d)``
    tensor of differences over its last axis, which XLA:CPU reduces slowly: a
    fit's step at 64 rows takes half the time (79 -> 39 us on one core; the
    mixed kernel, with two distances, 133 -> 63 us; docs/benchmarks.md, issue
    19, ninth round). In float64 the cancellation for near-equal rows is ~1e-16
    of their norms; the clamp keeps it off the negative side.
    """
    d2 = jnp.sum(z1 * z1, axis=-1)[:, None] + jnp.sum(z2 * z2, axis=-1)[None, :] - 2.0 * z1 @ z2.T
    return jnp.maximum(d2, 0.0)


def prior_variance(hyper: Hyper) -> jax.Array:
    return jnp.sum(jnp.exp(hyper.log_scale))


def _covariance(hyper: Hyper, cont: jax.Array, x: jax.Array, mask: jax.Array) -> jax.Array:
    k = kernel(hyper, cont, x, x)
    noise = NOISE_FLOOR + jnp.exp(hyper.log_noise)
    return k * (mask[:, None] * mask[None, :]) + jnp.diag(jnp.where(mask > 0, noise, 1.0))


def _lognormal_nlp(value_log: jax.Array, mu: float, sigma: float) -> jax.Array:
    """-log LogNormal(mu, sigma) density at exp(value_log), constants dropped.

    The density is over the value itself (as GPyTorch priors are in BoTorch's
    MAP fit), so its mode in log space is ``mu - sigma**2``.
    """
    return jnp.sum((value_log - mu) ** 2 / (2.0 * sigma**2) + value_log)


def ls_prior_nlp(log_ls: jax.Array, space: Layout) -> jax.Array:
    """-log prior of the lengthscales: ``0.1 (l/c)^2 + 0.1 (c/l)^2`` each, centre ``c``.

    Optuna's GPSampler prior (on the inverse squared lengthscale ``t``:
    ``-(0.1 / t + 0.1 t)``), with its centre ``c`` scaled with the dimension by
    the caller. Its tails are steep on both sides, where the log-normal prior
    of Hvarfner et al. (``space.log_normal``, the ``ls_prior="hvarfner"``
    option) let a fit on a rugged function (Hartmann-6, Levy) pick very long
    lengthscales, a smooth model that then never left a local optimum; that
    one did better on Rastrigin and Schaffer (docs/benchmarks.md).
    """
    v = 2.0 * (log_ls - space.log_ls_centre)
    optuna = jnp.sum(0.1 * jnp.exp(v) + 0.1 * jnp.exp(-v))
    log_normal = _lognormal_nlp(log_ls, lengthscale_prior_mu(log_ls.shape[-1]), math.sqrt(3.0))
    return jnp.where(space.log_normal > 0, log_normal, optuna)


def neg_log_posterior(
    hyper: Hyper, x: jax.Array, y: jax.Array, mask: jax.Array, space: Layout
) -> jax.Array:
    chol = jnp.linalg.cholesky(_covariance(hyper, space.cont, x, mask))
    resid = (y - hyper.mean) * mask
    a = solve_triangular(chol, resid, lower=True)
    n = jnp.sum(mask)
    nll = 0.5 * jnp.dot(a, a) + jnp.sum(jnp.log(jnp.diag(chol))) + 0.5 * n * math.log(2 * math.pi)
    prior = (
        ls_prior_nlp(hyper.log_ls, space)
        + _lognormal_nlp(hyper.log_noise, -4.0, 1.0)  # BoTorch's noise prior
        + _lognormal_nlp(hyper.log_scale, 0.0, 1.0)
        + 0.5 * hyper.mean**2  # N(0, 1): the data are standardised
    )
    return nll + prior


def _clip(hyper: Hyper) -> Hyper:
    return Hyper(
        mean=jnp.clip(hyper.mean, *MEAN_BOUNDS),
        log_ls=jnp.clip(hyper.log_ls, *LOG_LS_BOUNDS),
        log_scale=jnp.clip(hyper.log_scale, *LOG_SCALE_BOUNDS),
        log_noise=jnp.clip(hyper.log_noise, *LOG_NOISE_BOUNDS),
    )


@jax.jit
def fit(
    starts: Hyper,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    space: Layout,
    steps: jax.Array,
) -> tuple[Hyper, jax.Array]:
    """MAP hyperparameters by Adam from each of ``starts`` (a batch), run side by side.

    ``steps`` is traced, so short warm-started fits and long fresh ones share
    one compiled program. Returns the best end point and its negative log posterior.
    """
    opt = optax.adam(FIT_LR)
    loss_and_grad = jax.value_and_grad(neg_log_posterior)

    def keep_better(loss, hyper, best_loss, best):
        better = loss < best_loss
        best = jax.tree.map(lambda a, b: jnp.where(better, a, b), hyper, best)
        return jnp.where(better, loss, best_loss), best

    def run(start: Hyper) -> tuple[Hyper, jax.Array]:
        start = _clip(start)

        def step(_, carry):
            hyper, state, best_loss, best = carry
            loss, grad = loss_and_grad(hyper, x, y, mask, space)
            # Keep the best point seen: Adam does not decrease the loss monotonically.
            best_loss, best = keep_better(loss, hyper, best_loss, best)
            updates, state = opt.update(grad, state, hyper)
            return _clip(optax.apply_updates(hyper, updates)), state, best_loss, best

        init = (start, opt.init(start), jnp.asarray(jnp.inf, dtype=x.dtype), start)
        hyper, _, best_loss, best = jax.lax.fori_loop(0, steps, step, init)
        best_loss, best = keep_better(
            neg_log_posterior(hyper, x, y, mask, space), hyper, best_loss, best
        )
        return best, best_loss

    ends, losses = jax.vmap(run)(starts)
    losses = jnp.where(jnp.isfinite(losses), losses, jnp.inf)
    k = jnp.argmin(losses)
    return jax.tree.map(lambda a: a[k], ends), losses[k]


@jax.jit
def condition(
    hyper: Hyper, space: Layout, x: jax.Array, y: jax.Array, mask: jax.Array
) -> Posterior:
    """The posterior given (masked) observations ``y`` at ``x``, for fixed hyperparameters."""
    chol = jnp.linalg.cholesky(_covariance(hyper, space.cont, x, mask))
    # ``y`` may hold several columns (``condition_with_samples``): one ``alpha`` each.
    resid = (y - hyper.mean) * (mask if y.ndim == 1 else mask[:, None])
    chol_inv = solve_triangular(chol, jnp.eye(len(x), dtype=x.dtype), lower=True)
    alpha = chol_inv.T @ (chol_inv @ resid)
    return Posterior(hyper, space, x, mask, chol_inv, alpha)


def predict(post: Posterior, xq: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and variance of the latent function at the rows of ``xq``.

    The mean has a column per fantasy draw when ``post`` has (``condition_with_samples``).
    """
    hyper = post.hyper
    kq = kernel(hyper, post.layout.cont, xq, post.x) * post.mask[None, :]
    mean = hyper.mean + kq @ post.alpha
    v = post.chol_inv @ kq.T
    var = jnp.maximum(prior_variance(hyper) - jnp.sum(v * v, axis=0), 1e-12)
    return mean, var


@jax.jit
def mean_at(post: Posterior, xq: jax.Array) -> jax.Array:
    """Posterior mean of the latent function at the rows of ``xq``."""
    return predict(post, xq)[0]
