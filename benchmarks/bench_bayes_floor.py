"""What the ``bayes`` GP knows of Hartmann-6's optimum after ``n`` trials asked ``q`` at a time.

For each seed: runs ``bayes`` (``n_initial=32`` unless told) for ``n`` trials in asks of
``q``, fits the GP to them as the next ask would, minimises its posterior mean
with L-BFGS-B from the five best trials, and prints the true regret of the
best trial and of that minimiser. The minimiser's regret bounds what a next
batch can gain by trusting the model (docs/benchmarks.md, issue 19, fifth
round). Uses the strategy's private model methods: a measurement, not an API.

Usage::

    .venv/bin/python benchmarks/bench_bayes_floor.py --q 32 --n 96 --seeds 10
    .venv/bin/python benchmarks/bench_bayes_floor.py --q 8 --n 56 --n-initial 10 --first-seed 10
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from bayes_problems import PROBLEMS
from scipy.optimize import minimize

import hpfw
from hpfw.search.bayes import gp


def floor(seed: int, q: int, n: int, n_initial: int = 32) -> tuple[float, float]:
    """Regrets of the best trial and of the posterior mean's minimiser after ``n`` trials."""
    problem = PROBLEMS["hartmann6"]
    strategy = hpfw.create_strategy("bayes", problem.space, seed=seed, n_initial=n_initial)
    done = 0
    while done < n:
        for trial in strategy.ask(min(q, n - done)):
            strategy.tell(trial, problem.f(trial.params))
            done += 1
    complete = strategy._complete()
    strategy._batch_rows = len(complete)
    x, y, mask = strategy._data(complete, [], [])
    with jax.enable_x64(True):
        xj, yj, mj = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
        hyper = strategy._fit(tuple(t.id for t in complete), xj, yj, mj)
        post = gp.condition(hyper, strategy._layout(), xj, yj, mj)

        def mean(z: np.ndarray) -> float:
            return float(gp.mean_at(post, jnp.asarray(z[None, :]))[0])

        starts = np.argsort(y[: len(complete)])[:5]
        bounds = [(0.0, 1.0)] * x.shape[1]
        runs = [minimize(mean, x[i], bounds=bounds, method="L-BFGS-B") for i in starts]
        best = min(runs, key=lambda r: r.fun)
    at = strategy.encoder.decode(best.x)
    return strategy.best.value - problem.optimum, problem.f(at) - problem.optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--q", type=int, default=32)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n-initial", type=int, default=32)
    args = parser.parse_args()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        observed, minimiser = floor(seed, args.q, args.n, args.n_initial)
        print(f"seed {seed}: best trial {observed:.3g}, posterior mean minimiser {minimiser:.3g}")


if __name__ == "__main__":
    main()
