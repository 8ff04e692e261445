"""Benchmark the ``bayes`` strategy against ``random``, Optuna's TPE and Optuna's GPSampler.

For each problem with a known optimum (Branin, Hartmann-6, Ackley-5, Levy-5,
Rosenbrock-4 and a mixed log-float / int / categorical space) and each seed,
every method runs ``--budget`` sequential trials; the table gives the median
and interquartile range of the simple regret (best value found minus the
optimum) per problem and method, and the median time of one ``ask`` over the
runs. A separate timing tells ``bayes`` 200 random points of Hartmann-6 and
times ``ask`` after warm-up (each ask is told, so each one refits the model).

Usage::

    .venv/bin/pip install -e '.[bench]'       # optuna and torch (GPSampler needs torch)
    .venv/bin/python benchmarks/bench_bayes.py [--seeds 10] [--budget 50]
        [--problems branin hartmann6 ...] [--methods bayes random tpe gp]
        [--jsonl runs.jsonl] [--no-timing] [--summarise runs.jsonl ...]

Every finished run is appended to ``--jsonl`` as it ends, so a long benchmark
can be split across processes and summarised together with ``--summarise``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hpfw
from hpfw.search import Categorical, Float, Int
from hpfw.search.strategy import Trial

# --- problems ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, Any]
    f: Callable[[dict[str, Any]], float]
    optimum: float


def _vector(params: dict[str, Any]) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(len(params))], dtype=float)


def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x0"], p["x1"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: dict[str, Any]) -> float:
    x = _vector(p)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley(p: dict[str, Any]) -> float:
    x = _vector(p)
    d = len(x)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d))
        - np.exp(np.sum(np.cos(2 * np.pi * x)) / d)
        + 20
        + math.e
    )


def levy(p: dict[str, Any]) -> float:
    w = 1 + (_vector(p) - 1) / 4
    head = np.sin(np.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def rosenbrock(p: dict[str, Any]) -> float:
    x = _vector(p)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


_PENALTY = {"sgd": 0.6, "adam": 0.0, "rmsprop": 0.3}


def mixed(p: dict[str, Any]) -> float:
    """A training-loss-like surface: optimum 0 at lr = 10^-2.5, layers = 7, adam."""
    u = math.log10(p["lr"]) + 2.5
    v = (p["layers"] - 7) / 4
    return u**2 + v**2 + 0.5 * abs(u * v) + _PENALTY[p["opt"]]


def _box(d: int, low: float, high: float) -> dict[str, Any]:
    return {f"x{i}": Float(low, high) for i in range(d)}


PROBLEMS = {
    "branin": Problem(
        "branin", {"x0": Float(-5.0, 10.0), "x1": Float(0.0, 15.0)}, branin, 0.397887357729738
    ),
    "hartmann6": Problem("hartmann6", _box(6, 0.0, 1.0), hartmann6, -3.322368011391339),
    "ackley5": Problem("ackley5", _box(5, -32.768, 32.768), ackley, 0.0),
    "levy5": Problem("levy5", _box(5, -10.0, 10.0), levy, 0.0),
    "rosenbrock4": Problem("rosenbrock4", _box(4, -5.0, 10.0), rosenbrock, 0.0),
    "mixed": Problem(
        "mixed",
        {
            "lr": Float(1e-5, 1.0, log=True),
            "layers": Int(1, 16),
            "opt": Categorical(["sgd", "adam", "rmsprop"]),
        },
        mixed,
        0.0,
    ),
}

# --- methods ----------------------------------------------------------------------

Run = tuple[list[float], list[float]]  # the values, in order, and the seconds of each ask


def run_hpfw(name: str, problem: Problem, seed: int, budget: int) -> Run:
    strategy = hpfw.create_strategy(name, problem.space, direction="minimize", seed=seed)
    values, ask_times = [], []
    for _ in range(budget):
        start = time.perf_counter()
        [trial] = strategy.ask(1)
        ask_times.append(time.perf_counter() - start)
        value = problem.f(trial.params)
        strategy.tell(trial, value)
        values.append(value)
    return values, ask_times


def _optuna_distributions(space: dict[str, Any]) -> dict[str, Any]:
    import optuna

    out = {}
    for name, dist in space.items():
        if isinstance(dist, Float):
            out[name] = optuna.distributions.FloatDistribution(dist.low, dist.high, log=dist.log)
        elif isinstance(dist, Int):
            out[name] = optuna.distributions.IntDistribution(dist.low, dist.high, log=dist.log)
        else:
            out[name] = optuna.distributions.CategoricalDistribution(list(dist.choices))
    return out


def run_optuna(name: str, problem: Problem, seed: int, budget: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if name == "tpe"
        else optuna.samplers.GPSampler(seed=seed)
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    distributions = _optuna_distributions(problem.space)
    values, ask_times = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask(distributions)  # samples every parameter now, as ask does in hpfw
        ask_times.append(time.perf_counter() - start)
        value = problem.f(trial.params)
        study.tell(trial, value)
        values.append(value)
    return values, ask_times


METHODS: dict[str, Callable[[Problem, int, int], Run]] = {
    "bayes": lambda p, s, b: run_hpfw("bayes", p, s, b),
    "random": lambda p, s, b: run_hpfw("random", p, s, b),
    "tpe": lambda p, s, b: run_optuna("tpe", p, s, b),
    "gp": lambda p, s, b: run_optuna("gp", p, s, b),
}

# --- timing at 200 observations ---------------------------------------------------


def time_at(n_observed: int, asks: int, warmup: int) -> list[float]:
    """Seconds per ``bayes`` ask with ``n_observed`` told Hartmann-6 trials, after warm-up."""
    problem = PROBLEMS["hartmann6"]
    strategy = hpfw.create_strategy("bayes", problem.space, seed=0)
    rng = np.random.default_rng(0)
    for k in range(n_observed):
        params = {name: float(rng.random()) for name in problem.space}
        strategy.tell(Trial(k, params), problem.f(params))
    times = []
    for k in range(warmup + asks):
        start = time.perf_counter()
        [trial] = strategy.ask(1)
        if k >= warmup:
            times.append(time.perf_counter() - start)
        strategy.tell(trial, problem.f(trial.params))
    return times


# --- reporting --------------------------------------------------------------------


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = np.percentile(xs, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def summarise(records: list[dict[str, Any]]) -> str:
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in records)]
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    lines = [
        "simple regret after the budget: median [IQR q1, q3] over seeds",
        "",
        "| problem | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for p in problems:
        cells = []
        for m in methods:
            regrets = [r["regret"] for r in records if r["problem"] == p and r["method"] == m]
            if not regrets:
                cells.append("-")
                continue
            q1, q2, q3 = _quartiles(regrets)
            cells.append(f"{q2:.3g} [{q1:.3g}, {q3:.3g}] (n={len(regrets)})")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "median seconds per ask over all runs:"]
    for m in methods:
        times = [t for r in records if r["method"] == m for t in r["ask_times"]]
        lines.append(f"  {m:7s} {statistics.median(times):.4f}  (max {max(times):.2f})")
    if "bayes" in methods and "tpe" in methods:
        won = [p for p in problems if _median(records, p, "bayes") < _median(records, p, "tpe")]
        lines.append(f"\nbayes median regret < TPE on {len(won)}/{len(problems)}: {won}")
    if "bayes" in methods and "gp" in methods:
        ok = [p for p in problems if _median(records, p, "bayes") <= _median(records, p, "gp")]
        lines.append(f"bayes median regret <= GPSampler on {len(ok)}/{len(problems)}: {ok}")
    return "\n".join(lines)


def _median(records: list[dict[str, Any]], problem: str, method: str) -> float:
    regrets = [r["regret"] for r in records if r["problem"] == problem and r["method"] == method]
    return statistics.median(regrets) if regrets else math.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--jsonl", type=Path, help="append every finished run here")
    parser.add_argument("--no-timing", action="store_true", help="skip the 200-trial timing")
    parser.add_argument("--timing-only", action="store_true", help="only the 200-trial timing")
    parser.add_argument("--summarise", type=Path, nargs="+", help="summarise these files only")
    args = parser.parse_args(argv)

    if args.summarise:
        records = [
            json.loads(line) for path in args.summarise for line in path.read_text().splitlines()
        ]
        print(summarise(records))
        return

    print(f"# {' '.join(sys.argv)}")
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}")
    records = []
    if not args.timing_only:
        for problem_name in args.problems:
            problem = PROBLEMS[problem_name]
            for method in args.methods:
                for seed in range(args.seeds):
                    start = time.perf_counter()
                    values, ask_times = METHODS[method](problem, seed, args.budget)
                    record = {
                        "problem": problem_name,
                        "method": method,
                        "seed": seed,
                        "budget": args.budget,
                        "regret": min(values) - problem.optimum,
                        "ask_times": ask_times,
                        "seconds": time.perf_counter() - start,
                    }
                    records.append(record)
                    print(
                        f"{problem_name:12s} {method:7s} seed {seed:2d} regret "
                        f"{record['regret']:.4g} ({record['seconds']:.1f} s)",
                        flush=True,
                    )
                    if args.jsonl:
                        with args.jsonl.open("a") as f:
                            f.write(json.dumps(record) + "\n")
        print()
        print(summarise(records))
    if not args.no_timing and "bayes" in args.methods:
        times = time_at(200, asks=20, warmup=3)
        print(
            f"\nbayes ask at 200 observed trials (Hartmann-6, after warm-up, each ask told): "
            f"median {statistics.median(times):.3f} s, min {min(times):.3f}, max {max(times):.3f}"
        )
        print("  each:", " ".join(f"{t:.3f}" for t in times))


if __name__ == "__main__":
    main()
