"""``BayesStrategy``: Gaussian-process Bayesian optimisation with log expected improvement."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

from hpfw.errors import HpfwError
from hpfw.search.bayes import ahead, batch, gp, proposal
from hpfw.search.bayes.acquisition import maximise, score
from hpfw.search.bayes.encoding import Encoder, targets
from hpfw.search.bayes.fitting import FULL_FIT_STARTS, SMALL_BUCKET, FitSchedule
from hpfw.search.bayes.gp import bucket  # noqa: F401  (re-exported: tests size arrays with it)
from hpfw.search.space import Distribution
from hpfw.search.strategy import Strategy, Trial, TrialState

BATCH_STRATEGIES = ("auto", "believer", "liar", "fantasies")
# "auto": fantasies for an ask of at least AUTO_FANTASIES trials, else believer (Hartmann-6,
# Branin, Ackley-5, Levy-5 better at q = 32, Levy-5 worse at q = 8: docs/benchmarks.md).
AUTO_FANTASIES = 16
BEST_BY = ("observed", "posterior")
LS_PRIORS = ("optuna", "hvarfner")
REFINE_STEPS = 40  # projected Adam steps per refined candidate
LOCAL_FRACTION = 4  # 1/4 of the sweep's candidates are perturbations of the best points
TOP_POINTS = 5
# The lengthscale prior's centre, as a fraction of the unit cube's diagonal (gp.py).
LS_CENTRE = 0.4


def default_n_initial(n_params: int) -> int:
    """Space-filling points before the model: 10 (as Optuna's GPSampler), or d + 1 if more.

    Fewer (d + 1, at least 5) let the model take over earlier but left it stuck
    more often on multimodal problems (Levy-5) and on a wrong categorical choice:
    see docs/benchmarks.md.
    """
    return max(n_params + 1, 10)


class BayesStrategy(Strategy):
    """Proposes the maximiser of log expected improvement under a Gaussian process.

    The first ``n_initial`` trial ids take points of a scrambled Sobol sequence
    (point ``id``: they depend only on ``(seed, id)``). After that, once two
    trials have completed, each proposal: fits the GP (``gp.py``) to the
    completed trials' standardised scores by MAP, warm-started; conditions it on
    failed trials at the worst score and on pending ones (this batch's included)
    as ``batch_strategy`` says (``batch.py``; ``auto``: joint fantasies for asks of
    16 or more, else the posterior mean); sweeps candidates with log EI, refines the best
    by projected gradient ascent and a discrete local search (``proposal.py``);
    takes the best point whose typed params are new, or where it would only polish
    the incumbent, an untried choice or coordinate hop there (``proposal.at_incumbent``).
    ``best_by="posterior"``: ``best`` is the completed trial with the lowest
    posterior mean. JAX work runs in float64 inside ``jax.enable_x64`` (other
    code in the process keeps float32). Details: docs/bayes.md.
    """

    # Several objectives or constraints: mo_acquisition.py (ParEGO, EI x P(feasible)).
    multi_objective = True
    compiles_programs = True  # the GP's fit and acquisition

    def __init__(
        self,
        space: Mapping[str, Distribution],
        *,
        direction: str = "minimize",
        seed: int | None = None,
        n_initial: int | None = None,
        n_candidates: int = 512,
        n_restarts: int = 8,
        batch_strategy: str = "auto",
        warp: bool = True,
        best_by: str = "observed",
        ls_prior: str = "optuna",
    ) -> None:
        super().__init__(space, direction=direction, seed=seed)
        if n_initial is None:
            n_initial = default_n_initial(len(self.space))
        for name, value, least in (
            ("n_initial", n_initial, 0),
            ("n_candidates", n_candidates, 1),
            ("n_restarts", n_restarts, 1),
        ):
            if not (isinstance(value, int) and value >= least):
                raise HpfwError(f"{name} must be an integer >= {least}, got {value!r}")
        for name, value, allowed in (
            ("batch_strategy", batch_strategy, BATCH_STRATEGIES),
            ("best_by", best_by, BEST_BY),
            ("ls_prior", ls_prior, LS_PRIORS),
        ):
            if value not in allowed:
                raise HpfwError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        self.n_initial = n_initial
        self.n_candidates = n_candidates
        self.n_restarts = min(n_restarts, n_candidates)
        self.batch_strategy = batch_strategy
        self.warp = warp
        self.best_by = best_by
        self.encoder = Encoder(self.space)
        cont = self.encoder.continuous
        # The mixed kernel needs both kinds of dimension; otherwise it is one Matern.
        self._mixed = 0 < cont.sum() < len(cont)
        centre = LS_CENTRE * math.sqrt(self.encoder.width)
        self._layout_args = (cont, centre, ls_prior == "hvarfner")
        self._root = seed if seed is not None else np.random.SeedSequence().entropy
        self._sobol = qmc.Sobol(d=len(self.space), scramble=True, seed=self._root)
        self._initial = np.empty((0, len(self.space)))
        self._x: dict[int, np.ndarray] = {}  # encoded points of the told trials
        self._pending: dict[int, np.ndarray] = {}  # encoded points asked, not yet told
        self._keys: set[tuple[str, ...]] = set()  # params already told or pending
        self._fits = FitSchedule(self.encoder.width, self._mixed, self._root)
        self._batch_rows = 0  # model rows the current ask(n) reaches (gp.padded_design)
        self._targets_of: tuple[tuple[int, ...], np.ndarray] | None = None  # ids, targets
        self._ahead = ahead.Ahead()  # the next bucket's programs, compiled in a thread
        self._score_sizes: set[int] = set()  # padded sizes the acquisition was scored at

    # --- ask / tell ------------------------------------------------------------

    def ask(self, n: int) -> list[Trial]:
        trials = []
        self._batch_rows = len(self._x) + len(self._pending) + n
        self._how = self.batch_strategy  # this ask's batch strategy ("auto" resolved)
        if self._how == "auto":
            self._how = "fantasies" if n >= AUTO_FANTASIES else "believer"
        modelled = False  # whether this ask has proposed from the model yet
        for _ in range(n):
            point = None
            # Warm-start observations count towards the initial design.
            if self._next_id + self.observations >= self.n_initial and len(self.completed) >= 2:
                if not modelled:  # its programs: if being compiled ahead, wait for them
                    self._ahead.use(gp.bucket(self._batch_rows))
                    modelled = True
                point = self._propose()
            if point is None:
                params = self.encoder.decode(self._initial_point(self._next_id))
                trial = self.new_trial(params, source="sobol")
            else:
                trial = self.new_trial(self.encoder.decode(point), source="gp")
            self._pending[trial.id] = self.encoder.encode(trial.params)
            self._keys.add(self.encoder.key(trial.params))
            trials.append(trial)
        self._compile_ahead(n)
        return trials

    def _compile_ahead(self, n: int) -> None:
        """Compiles the next ``ask(n)``'s programs now (ahead.py) if they are new.

        That is when it reaches a new bucket, or, during the initial design
        (no fit yet), the bucket the first model ask will use: its programs then
        compile while the initial trials run instead of in that ask.
        """
        rows = len(self._x) + len(self._pending) + n
        single = len(self.directions) == 1 and not self.n_constraints  # mo_acquisition: not here
        first = self._fits.hyper is None
        if first:  # the first model ask holds the initial design and at least one more row
            rows = max(rows, self.n_initial + 1)
        rows = gp.bucket(rows)
        if not single or (not first and rows <= gp.bucket(self._batch_rows)):
            return
        hyper = self._fits.hyper
        if first:  # the prior's mode has the shapes and dtypes (float64) a fit returns
            with jax.enable_x64(True):
                hyper = jax.tree.map(np.asarray, gp.prior_mode(self.encoder.width, self._mixed))
        n_sweep = self.n_candidates + max(self.n_candidates // LOCAL_FRACTION, 1)
        starts = 1 if rows > SMALL_BUCKET else FULL_FIT_STARTS
        # Sizes the acquisition was scored at; before any, the smallest (most asks' size).
        sizes = tuple(sorted(self._score_sizes)) or (proposal.padded(1),)
        shapes = ahead.Shapes(self.encoder.width, n_sweep, self.n_restarts, REFINE_STEPS)
        shapes = replace(shapes, batch=self._how, fit_starts=starts, score_sizes=sizes)
        work = partial(ahead.compile_programs, hyper, self._layout_args, shapes, rows)
        self._ahead.start(rows, work)

    def will_rerun(self, trials: Sequence[Trial]) -> None:
        """Trials running elsewhere (another driver's, or to rerun) are pending points too."""
        super().will_rerun(trials)
        for trial in trials:
            try:
                self._pending[trial.id] = self.encoder.encode(trial.params, trial.inactive)
                self._keys.add(self.encoder.key(trial.params))
            except (KeyError, ValueError, TypeError):
                pass  # params this space cannot hold: not modelled

    def tell(self, trial: Trial, value: float | None) -> None:
        super().tell(trial, value)
        self._pending.pop(trial.id, None)
        try:
            self._x[trial.id] = self.encoder.encode(trial.params, trial.inactive)
            self._keys.add(self.encoder.key(trial.params))
        except (KeyError, ValueError, TypeError):
            pass  # a replayed trial whose params this space cannot hold: not modelled

    @property
    def best(self) -> Trial | None:
        """The best completed trial: lowest observed score, or lowest posterior mean.

        With ``best_by="posterior"`` (and at least three completed trials) the
        GP judges the completed trials, so one lucky noisy value does not win.
        """
        complete = self._complete()
        if self.best_by == "observed" or len(complete) < 3:
            return super().best
        x, y, mask = self._data(complete, [], [])
        with jax.enable_x64(True):
            x_j, y_j, m_j = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
            hyper = self._fit(tuple(t.id for t in complete), x_j, y_j, m_j)
            post = gp.condition(hyper, self._layout(), x_j, y_j, m_j)
            mean = np.asarray(gp.mean_at(post, x_j))
        return complete[int(np.argmin(mean[: len(complete)]))]

    # --- the initial design ----------------------------------------------------

    def _initial_point(self, trial_id: int) -> np.ndarray:
        while len(self._initial) <= trial_id:
            # Doubling keeps the total drawn a power of two, which Sobol's balance needs.
            more = self._sobol.random(max(len(self._initial), 16))
            self._initial = np.concatenate([self._initial, more])
        return self.encoder.from_params_unit(self._initial[trial_id : trial_id + 1])[0]

    # --- the model -------------------------------------------------------------

    def _complete(self) -> list[Trial]:
        return sorted(
            (t for t in self.trials.values() if t.id in self._x and t.state == TrialState.complete),
            key=lambda t: t.id,
        )

    def _data(
        self, complete: list[Trial], failed: list[Trial], pending: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded inputs and targets: completed rows, failed rows, pending rows, padding.

        A failed row's target is the worst observed score (the acquisition
        steers away from it); the returned mask marks the completed rows.
        """
        ids = tuple(t.id for t in complete)
        if self._targets_of is None or self._targets_of[0] != ids:
            # The warp's fit is a few ms: the asks of one batch share it.
            scores = np.array([self.score(t.value) for t in complete])
            self._targets_of = (ids, targets(scores, self.warp))
        y_complete = self._targets_of[1]
        rows = [self._x[t.id] for t in complete + failed] + pending
        x, y = gp.padded_design(rows, self.encoder.width, y_complete, len(failed), self._batch_rows)
        return x, y, (np.arange(len(y)) < len(complete)).astype(float)

    def _propose(self) -> np.ndarray | None:
        """The next point, from the model, or ``None`` when nothing new is worth asking."""
        if len(self.directions) > 1 or self.n_constraints:
            from hpfw.search.bayes.mo_acquisition import propose

            return propose(self)
        complete = self._complete()
        if len(complete) < 2:
            return None
        done = {t.id for t in complete}
        failed = sorted(
            (t for t in self.trials.values() if t.id in self._x and t.id not in done),
            key=lambda t: t.id,
        )
        pending = [self._pending[i] for i in sorted(self._pending)]
        x, y, mask_fit = self._data(complete, failed, pending)
        n_real = len(complete) + len(failed)
        index = np.arange(len(x))
        mask_real = (index < n_real).astype(float)
        mask_pending = ((index >= n_real) & (index < n_real + len(pending))).astype(float)
        y_complete = y[: len(complete)]
        order = np.argsort(y_complete, kind="stable")
        tops = x[order[:TOP_POINTS]]
        rng = np.random.default_rng([self._root, self._next_id])
        n_local = max(self.n_candidates // LOCAL_FRACTION, 1)
        candidates = proposal.candidates(self.encoder, rng, self.n_candidates, n_local, tops)

        with jax.enable_x64(True):
            x_j, y_j = jnp.asarray(x), jnp.asarray(y)
            hyper = self._fit(tuple(t.id for t in complete), x_j, y_j, jnp.asarray(mask_fit))
            post, fantasy = batch.condition_batch(
                hyper, self._layout(), x_j, y_j, mask_real, mask_pending, y_complete.max(),
                self._how, int(rng.integers(2**31)),
            )  # fmt: skip
            # A fantasy counts as an observation, so the incumbent includes it: a
            # believed low value makes its neighbourhood no longer an improvement.
            rows = (index < len(complete)) | (mask_pending > 0)
            best = np.min(np.asarray(fantasy)[rows], axis=0)  # one per fantasy draw
            best_j = jnp.asarray(best)
            xs, values, sweep = maximise(
                post,
                best_j,
                jnp.asarray(candidates),
                jnp.asarray(self.encoder.free),
                n_restarts=self.n_restarts,
                steps=REFINE_STEPS,
            )
            xs, values, sweep = np.asarray(xs), np.asarray(values), np.asarray(sweep)

            def acquisition(points: np.ndarray) -> np.ndarray:
                padded = np.full((proposal.padded(len(points)), points.shape[1]), 0.5)
                padded[: len(points)] = points
                self._score_sizes.add(len(padded))
                return np.asarray(score(post, jnp.asarray(padded), best_j))[: len(points)]

            keep = np.isfinite(values)
            if keep.any():
                xs, values = proposal.discrete_search(self.encoder, acquisition, xs[keep])
                keep = np.isfinite(values)
            # The best refined point whose typed params are new, else the best new candidate.
            ranked = [xs[k] for k in np.argsort(-values, kind="stable") if keep[k]]
            ranked += [candidates[k] for k in np.argsort(-sweep, kind="stable")]
            point = next((p for p in ranked if self._new(p)), None)
            if point is not None:
                tried = x[: n_real + len(pending)]
                point = proposal.at_incumbent(
                    self.encoder, x[order[0]], tried, point, acquisition, self._new, self._next_id
                )
        return point

    def _new(self, point: np.ndarray) -> bool:
        return self.encoder.key(self.encoder.decode(point)) not in self._keys

    def _fit(self, ids: tuple[int, ...], x: jax.Array, y: jax.Array, mask: jax.Array) -> gp.Hyper:
        """MAP hyperparameters, refitted only when the completed trials changed (fitting.py)."""
        return self._fits.fit(ids, x, y, mask, self._layout())

    def _layout(self) -> gp.Layout:
        """The model's ``Layout`` (built inside ``jax.enable_x64``, so in float64)."""
        return gp.layout(*self._layout_args)
