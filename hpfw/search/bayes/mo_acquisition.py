"""``bayes`` with several objectives or constraints: ParEGO scalarisations, log EI x feasibility.

Several objectives (Knowles 2006, ParEGO): each proposal draws a weight
vector from the flat Dirichlet over the objectives, scalarises every trial's
objectives (each scaled to [0, 1] over the trials so far, lower is better)
by the augmented Chebyshev function ``max_i w_i z_i + 0.05 sum_i w_i z_i``, and
maximises log EI of that scalar under the same GP ``BayesStrategy`` fits for
one objective. Successive proposals aim at different parts of the front; a
batch gets a different weight per point. Chosen over EHVI because it reuses
the single-objective model and acquisition unchanged (one GP fit per ask,
whatever the number of objectives) and its cost does not grow with the front;
docs/benchmarks.md measures it against Optuna's log-EHVI GPSampler.

Constraints (Gardner et al. 2014): one GP per constraint on its slack
(``trial.slacks``; > 0 violates); a point's log probability of feasibility
``sum_k log Phi(-mu_k / sigma_k)`` is added to log EI, so the acquisition is
EI x P(feasible). The incumbent is the best *feasible* trial; while none is
feasible the acquisition is the probability of feasibility alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from hpfw.search.bayes import batch, gp, proposal
from hpfw.search.bayes.acquisition import maximise, score
from hpfw.search.bayes.encoding import targets
from hpfw.search.pareto import as_minimized
from hpfw.search.strategy import Trial, TrialState

if TYPE_CHECKING:
    from hpfw.search.bayes.strategy import BayesStrategy

_predict = jax.jit(gp.predict)  # padded rows: a few compiled programs
RHO = 0.05  # ParEGO's augmentation: ties on the max term break towards the sum
CONSTRAINT_FIT_STEPS = 150


def scalarise(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The augmented Chebyshev scalarisation of lower-is-better ``values`` [n, m]."""
    low, high = values.min(axis=0), values.max(axis=0)
    scaled = (values - low) / np.where(high > low, high - low, 1.0)
    return np.max(scaled * weights, axis=1) + RHO * scaled @ weights


def _scores(strategy: BayesStrategy, complete: list[Trial]) -> np.ndarray:
    """Each complete trial's score to minimise: the objective, or a ParEGO scalarisation."""
    if len(strategy.directions) == 1:
        return np.array([strategy.score(t.value) for t in complete])
    rows = [t.values if t.values is not None else (t.value,) for t in complete]
    values = as_minimized(rows, strategy.directions)
    rng = np.random.default_rng([strategy._root, strategy._next_id, 17])
    return scalarise(values, rng.dirichlet(np.ones(len(strategy.directions))))


def propose(strategy: BayesStrategy) -> np.ndarray | None:
    """The next point for a sweep of several objectives or with constraints (or ``None``)."""
    s = strategy
    done = sorted((t for t in s.trials.values() if t.id in s._x), key=lambda t: t.id)
    complete = [t for t in done if t.state == TrialState.complete]
    if len(s.directions) > 1:
        complete = [t for t in complete if t.values is not None]
    kept = {t.id for t in complete}
    failed = [t for t in done if t.id not in kept]
    if len(complete) < 2:
        return None
    y_complete = targets(_scores(s, complete), s.warp)
    feasible = np.array([t.feasible for t in complete])
    worst = y_complete.max()
    pending = [s._pending[i] for i in sorted(s._pending)]
    rows = [s._x[t.id] for t in complete + failed] + pending
    x, y = gp.padded_design(rows, s.encoder.width, y_complete, len(failed), s._batch_rows)
    size = len(y)
    n_real = len(complete) + len(failed)
    index = np.arange(size)
    mask_fit = (index < len(complete)).astype(float)
    mask_real = (index < n_real).astype(float)
    mask_pending = ((index >= n_real) & (index < len(rows))).astype(float)
    # Local candidates around the best feasible trials of this scalarisation.
    ranking = np.argsort(y_complete + np.where(feasible, 0.0, 1e6), kind="stable")
    rng = np.random.default_rng([s._root, s._next_id])
    n_local = max(s.n_candidates // 4, 1)
    tops = x[ranking[:5]]
    candidates = proposal.candidates(s.encoder, rng, s.n_candidates, n_local, tops)
    with jax.enable_x64(True):
        x_j, y_j = jnp.asarray(x), jnp.asarray(y)
        # A new scalarisation each ask: the fit is redone (warm-started) even on the same ids.
        ids = (*(t.id for t in complete), -1 - s._next_id)
        hyper = s._fit(ids, x_j, y_j, jnp.asarray(mask_fit))
        post, fantasy = batch.condition_with_pending(
            hyper, s._layout(), x_j, y_j, jnp.asarray(mask_real), jnp.asarray(mask_pending),
            jnp.asarray(worst), believer=s.batch_strategy != "liar",  # fantasies: believer here
        )  # fmt: skip
        # The incumbent: the best feasible trial, or a pending point's fantasy (never an
        # infeasible trial's value). With no feasible trial, feasibility alone decides.
        fantasy = np.asarray(fantasy)[n_real : len(rows)]
        best = worst
        if feasible.any():
            best = min(y_complete[feasible].min(), fantasy.min(initial=np.inf))
        xs, _, _ = maximise(
            post, jnp.asarray(best), jnp.asarray(candidates), jnp.asarray(s.encoder.free),
            n_restarts=s.n_restarts, steps=40,
        )  # fmt: skip
        points = np.concatenate([np.asarray(xs), candidates])
        padded = np.full((proposal.padded(len(points)), points.shape[1]), 0.5)
        padded[: len(points)] = points
        value = np.asarray(score(post, jnp.asarray(padded), jnp.asarray(best)))[: len(points)]
        if not feasible.any():
            value = np.zeros(len(points))
        if s.n_constraints:
            value = value + _log_feasibility(s, complete, x_j, mask_fit, padded)[: len(points)]
    order = np.argsort(-np.where(np.isfinite(value), value, -np.inf), kind="stable")
    for k in order:
        if s.encoder.key(s.encoder.decode(points[k])) not in s._keys:
            return points[k]
    return None


def _log_feasibility(
    s: BayesStrategy, complete: list[Trial], x: jax.Array, mask: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """log P(every slack <= 0) at ``points``: one GP per constraint on its slacks."""
    total = np.zeros(len(points))
    dim = s.encoder.width
    for k in range(s.n_constraints):
        slack = np.array([t.slacks[k] if len(t.slacks) > k else np.nan for t in complete])
        finite = np.isfinite(slack)
        if not finite.any():
            continue
        # A slack that is not a number (NaN metric) counts as well violated.
        slack = np.where(finite, slack, np.max(np.abs(slack[finite])) * 2 + 1)
        centre, spread = slack.mean(), slack.std() or 1.0
        y = np.zeros(len(x))
        y[: len(slack)] = (slack - centre) / spread
        start = jax.tree.map(lambda a: jnp.asarray(a)[None], gp.prior_mode(dim, s._mixed))
        layout, steps = s._layout(), jnp.asarray(CONSTRAINT_FIT_STEPS)
        hyper, _ = gp.fit(start, x, jnp.asarray(y), jnp.asarray(mask), layout, steps)
        post = gp.condition(hyper, layout, x, jnp.asarray(y), jnp.asarray(mask))
        mean, var = _predict(post, jnp.asarray(points))
        bound = -centre / spread  # slack 0, standardised
        total += np.asarray(log_ndtr((bound - mean) / jnp.sqrt(var)))
    return total
