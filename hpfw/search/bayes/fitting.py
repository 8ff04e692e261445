"""When the GP's hyperparameters are refitted, and from where: the fit schedule.

A full MAP fit (``FULL_FIT_STARTS`` starts side by side: the last fit, the
prior's mode and random lengthscale draws around it; ``FULL_FIT_STEPS`` Adam
steps) when there is no previous fit and, up to ``SMALL_BUCKET`` rows, whenever
the completed trials grew by ``REFIT_GROWTH``; other asks with new results up
to ``SMALL_BUCKET`` rows run the same starts for ``SMALL_WARM_FIT_STEPS`` (fits
from the last one alone lost Hartmann-6 runs); beyond, ``WARM_FIT_STEPS`` steps
from the last fit for each new result, at most ``WARM_FIT_CAP``. docs/bayes.md
("Fit"); measured in docs/benchmarks.md, issue 19.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.search.bayes import gp

FULL_FIT_STARTS, FULL_FIT_STEPS = 4, 150
SMALL_WARM_FIT_STEPS, WARM_FIT_STEPS = 50, 4
# A fit after a batch's results takes WARM_FIT_STEPS per new result, as sequential asks
# would have, up to WARM_FIT_CAP. With 4 steps per batch of 32, a fit stuck on a smooth,
# noisy explanation of the data (noise variance 1.5e-3 where sequential asks fit 5e-7)
# stayed there, and the batches stopped polishing at a regret of 1e-4 to 1e-2
# (Hartmann-6; docs/benchmarks.md, issue 19, tenth round). 32 steps cost about 0.2 s
# at 256 rows and 0.5 s at 384, within ask(32)'s 2 s at 200 observations; 16 polished
# less.
WARM_FIT_CAP = 32
REFIT_GROWTH = 1.3
SMALL_BUCKET = 64


class FitSchedule:
    """The last MAP fit of one strategy's GP, and when to make the next one."""

    def __init__(self, width: int, mixed: bool, root: int) -> None:
        self.width, self.mixed, self.root = width, mixed, root
        self.hyper: gp.Hyper | None = None  # the last fit (numpy), the next one's warm start
        self._fitted_on: tuple[int, ...] | None = None  # the completed ids it was fitted on
        self._full_fit_at = 0  # completed trials at the last full fit

    def fit(
        self, ids: tuple[int, ...], x: jax.Array, y: jax.Array, mask: jax.Array, layout: gp.Layout
    ) -> gp.Hyper:
        """MAP hyperparameters for the completed trials ``ids``; refitted only when they changed.

        Call inside ``jax.enable_x64(True)`` with the padded data.
        """
        if self.hyper is not None and self._fitted_on == ids:
            return self.hyper
        small = len(x) <= SMALL_BUCKET
        if self.hyper is None or (small and len(ids) >= REFIT_GROWTH * self._full_fit_at):
            starts, steps = self._full_fit_starts(len(ids)), FULL_FIT_STEPS
            self._full_fit_at = len(ids)
        elif small:  # every start, fewer steps (see SMALL_WARM_FIT_STEPS)
            starts, steps = self._full_fit_starts(len(ids)), SMALL_WARM_FIT_STEPS
        else:
            new = len(set(ids).difference(self._fitted_on or ()))
            starts, steps = [self.hyper], min(WARM_FIT_STEPS * max(new, 1), WARM_FIT_CAP)
        stacked = jax.tree.map(lambda *a: jnp.stack([jnp.asarray(v) for v in a]), *starts)
        hyper, _ = gp.fit(stacked, x, y, mask, layout, jnp.asarray(steps))
        self.hyper = jax.tree.map(np.asarray, hyper)
        self._fitted_on = ids
        return hyper

    def _full_fit_starts(self, n_complete: int) -> list[gp.Hyper]:
        """The last fit (if any), the prior mode and random lengthscale draws around it."""
        mode = gp.prior_mode(self.width, self.mixed)
        rng = np.random.default_rng([self.root, n_complete])
        draws = [
            mode._replace(log_ls=mode.log_ls + rng.normal(0.0, 1.0, self.width))
            for _ in range(FULL_FIT_STARTS - 2)
        ]
        return [self.hyper if self.hyper is not None else mode, mode, *draws]
