"""Compiles the model's programs for the next padded size in a background thread.

The GP's data are padded to buckets (``gp.bucket``), so a growing history
compiles the fit, the posterior and the acquisition again each time it
reaches a larger bucket: several seconds of CPU (8 s at 384 rows for a
Hartmann-6 ``ask(32)`` on one core), in the ask that first reaches it. When the
next ask of the same size would reach a new bucket, ``Ahead`` compiles that
bucket's programs in a background thread right after this ask, while the trials
run. XLA compiles without holding the GIL, and an ahead-of-time compile
(``jit(f).lower(...).compile()``) fills the same cache the later call looks
up, so that ask finds them compiled. An ask that needs the bucket while its
compile is still running waits for it instead of compiling it a second time.
During the initial design (no fit yet) the first ask starts the bucket the
first model ask will use, so that ask does not wait for its compile either.

Hand-written: JAX has no "compile this in the background" call; the lowering
runs on dummy arrays of the exact shapes and dtypes of the real calls.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.search.bayes import batch, gp
from hpfw.search.bayes.acquisition import maximise, score


@dataclass(frozen=True)
class Shapes:
    """What fixes the programs of one single-objective ``ask`` besides the row count."""

    width: int  # encoded dimensions
    n_candidates: int  # rows of the candidate sweep
    n_restarts: int
    refine_steps: int
    batch: str = "believer"  # the batch_strategy
    fit_starts: int = 1  # starts of the fit at that size
    score_sizes: tuple[int, ...] = ()  # padded row counts ``score`` was called with


def compile_programs(hyper: gp.Hyper, layout_args: tuple, shapes: Shapes, rows: int) -> None:
    """Compiles fit, posterior, acquisition and scoring for ``rows`` padded rows.

    The dummy arrays mirror the real calls in ``BayesStrategy._propose`` (the
    same dtypes and weak types), so the compiled programs are the ones those
    calls look up.
    """
    with jax.enable_x64(True):
        layout = gp.layout(*layout_args)
        x = jnp.asarray(np.full((rows, shapes.width), 0.5))
        y = jnp.asarray(np.zeros(rows))
        mask = jnp.asarray(np.ones(rows))
        one = jax.tree.map(jnp.asarray, hyper)
        starts = jax.tree.map(lambda a: jnp.stack([a] * shapes.fit_starts), one)
        gp.fit.lower(starts, x, y, mask, layout, jnp.asarray(1)).compile()
        free = jnp.asarray(np.ones(shapes.width))
        # One posterior as a batch's first proposal sees it (nothing pending), one as
        # the later ones do; they differ only with batch_strategy="fantasies".
        posts = []
        for pending in (np.zeros(rows), np.ones(rows)):
            real = np.ones(rows) - pending
            worst = np.float64(0.0)
            post, fantasy = batch.condition_batch(
                one, layout, x, y, real, pending, worst, shapes.batch, 0
            )
            best = jnp.asarray(np.min(np.asarray(fantasy), axis=0))
            posts.append((post, best))
            if shapes.batch != "fantasies":
                break
        candidates = jnp.asarray(np.full((shapes.n_candidates, shapes.width), 0.5))
        for post, best in posts:
            kwargs = {"n_restarts": shapes.n_restarts, "steps": shapes.refine_steps}
            maximise.lower(post, best, candidates, free, **kwargs).compile()
            for size in shapes.score_sizes:
                points = jnp.asarray(np.full((size, shapes.width), 0.5))
                score.lower(post, points, best).compile()


class Ahead:
    """At most one background compile at a time, for one bucket; every bucket once."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._rows: int | None = None  # the bucket the thread compiles
        self._started: set[int] = set()

    def start(self, rows: int, work: Callable[[], None]) -> None:
        """Runs ``work`` (compiling for ``rows`` padded rows) in a thread, once per bucket."""
        if rows in self._started or (self._thread is not None and self._thread.is_alive()):
            return
        self._started.add(rows)
        self._rows = rows
        self._thread = threading.Thread(target=_quietly(work), name="hpfw-bayes-ahead")
        self._thread.start()

    def use(self, rows: int) -> None:
        """An ask needs ``rows``: waits for its compile if running; never compiles it ahead."""
        if self._thread is not None and self._rows == rows:
            self._thread.join()
        self._started.add(rows)


def _quietly(work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        # Ahead-of-time work only: a failure here (e.g. out of memory) must not
        # surface in a thread; the ask that needs the programs compiles them itself.
        with contextlib.suppress(Exception):
            work()

    return run
