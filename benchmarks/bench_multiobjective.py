"""Benchmark multi-objective search: hypervolume of hpfw's random and bayes against Optuna's.

Methods: hpfw ``random`` and ``bayes`` (ParEGO + log EI, hpfw/search/bayes/mo_acquisition.py),
and Optuna's multi-objective TPE (``tpe``), NSGA-II (``nsga2``) and GPSampler (``gp``,
log EHVI). Problems: ZDT1, ZDT2, ZDT3 (6-D, two objectives), DTLZ2 (6-D, three
objectives) and ``digits``: hpfw's own MLP on scikit-learn's digits, val_accuracy
(maximise) against the parameter count (minimise), 3 epochs a trial, every trial
inside one envelope (as an hpfw sweep runs it: one compile per run, not one per trial).

Every method runs ``--trials`` sequential trials per seed; the hypervolume of
the trials so far is recorded after 50 and after ``--trials``. Hypervolumes use
a fixed reference point per problem (ZDT: (1.1, 11); DTLZ2: (1.1, 1.1, 1.1);
digits: (-0.5, 6) in (-accuracy, log10 params)), so values compare across
methods; the ideal (the true front's) is given where known. Each finished run is
appended to ``--jsonl``; ``--summarise`` prints the table from such files.

Warm start (``--warm-start``): a first ``bayes`` sweep of N = ``--trials``
trials minimising Hartmann-6 (one objective), then a second sweep (another
seed) warm-started from it: how many of its own trials it needs to reach the
first's best (target: at most N / 3).

Usage::

    .venv/bin/pip install optuna 'torch==2.13.0' --index-url ...   # GPSampler needs torch
    .venv/bin/python benchmarks/bench_multiobjective.py --problems zdt1 --seeds 3 \
        --trials 100 --jsonl mo.jsonl
    .venv/bin/python benchmarks/bench_multiobjective.py --summarise mo.jsonl
    .venv/bin/python benchmarks/bench_multiobjective.py --warm-start --trials 30
    .venv/bin/python benchmarks/bench_multiobjective.py --ask-times zdt1 --trials 100
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hpfw
from hpfw.search import Float, Int, TrialState
from hpfw.search.pareto import hypervolume


@dataclass(frozen=True)
class Problem:
    space: dict[str, Any]
    f: Callable[[dict[str, Any]], list[float]]  # lower is better, every objective
    reference: tuple[float, ...]
    ideal: float | None  # the true front's hypervolume, when known


def _x(params: dict[str, Any], d: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(d)])


def zdt(kind: int, d: int = 6) -> Callable[[dict[str, Any]], list[float]]:
    def f(params: dict[str, Any]) -> list[float]:
        x = _x(params, d)
        f1 = float(x[0])
        g = 1.0 + 9.0 * float(x[1:].mean())
        if kind == 1:
            h = 1.0 - math.sqrt(f1 / g)
        elif kind == 2:
            h = 1.0 - (f1 / g) ** 2
        else:
            h = 1.0 - math.sqrt(f1 / g) - (f1 / g) * math.sin(10 * math.pi * f1)
        return [f1, g * h]

    return f


def dtlz2(params: dict[str, Any], d: int = 6, m: int = 3) -> list[float]:
    x = _x(params, d)
    g = float(((x[m - 1 :] - 0.5) ** 2).sum())
    angles = x[: m - 1] * math.pi / 2
    out = []
    for i in range(m):
        value = 1.0 + g
        for a in angles[: m - 1 - i]:
            value *= math.cos(a)
        if i > 0:
            value *= math.sin(angles[m - 1 - i])
        out.append(value)
    return out


def _front_hv(kind: int) -> float:
    f1 = np.linspace(0, 1, 20001)
    if kind == 1:
        f2 = 1 - np.sqrt(f1)
    elif kind == 2:
        f2 = 1 - f1**2
    else:
        f2 = 1 - np.sqrt(f1) - f1 * np.sin(10 * np.pi * f1)
    return hypervolume(np.stack([f1, f2], 1), (1.1, 11.0))


DIGITS_SPACE = {
    "lr": Float(1e-4, 1e-1, log=True),
    "hidden_dim": Int(8, 256, log=True),
    "num_layers": Int(1, 3),
}


def _digits_envelope() -> str:
    """The override a sweep of ``DIGITS_SPACE`` passes each trial (hpfw.sweeper.envelopes):
    one program serves every width and depth, so a run compiles once, not per trial."""
    from hpfw.sweeper.envelopes import listed_values

    widths = ",".join(map(str, listed_values(DIGITS_SPACE["hidden_dim"]) or ()))
    return f"trainer.envelope={{hidden_dim:[{widths}],num_layers:[1,2,3],trials:100}}"


def digits(params: dict[str, Any]) -> list[float]:
    from hydra import compose, initialize_config_dir

    from hpfw.config import config_dir, register_configs
    from hpfw.trainer.run import train_and_evaluate

    register_configs()  # the structured schemas conf/ extends, as the CLI registers them

    overrides = [
        "trainer.epochs=3",
        f"optimizer.lr={params['lr']}",
        f"model.hidden_dim={params['hidden_dim']}",
        f"model.num_layers={params['num_layers']}",
        _digits_envelope(),
    ]
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        metrics = train_and_evaluate(compose("config", overrides=overrides))
    accuracy = metrics["val_accuracy"]
    if not math.isfinite(accuracy):
        accuracy = 0.0
    return [-accuracy, math.log10(metrics["params"])]


SIX = {f"x{i}": Float(0.0, 1.0) for i in range(6)}
PROBLEMS = {
    "zdt1": Problem(SIX, zdt(1), (1.1, 11.0), _front_hv(1)),
    "zdt2": Problem(SIX, zdt(2), (1.1, 11.0), _front_hv(2)),
    "zdt3": Problem(SIX, zdt(3), (1.1, 11.0), _front_hv(3)),
    "dtlz2": Problem(SIX, dtlz2, (1.1, 1.1, 1.1), 1.1**3 - math.pi / 6),
    "digits": Problem(
        DIGITS_SPACE,
        digits,
        (-0.5, 6.0),
        None,
    ),
}

Run = tuple[list[list[float]], list[float]]  # objective vectors, seconds per ask


def run_hpfw(name: str, problem: Problem, seed: int, trials: int) -> Run:
    m = len(problem.reference)
    strategy = hpfw.create_strategy(name, problem.space, seed=seed)
    strategy.set_objectives(["minimize"] * m)
    points, asks = [], []
    for _ in range(trials):
        start = time.perf_counter()
        [trial] = strategy.ask(1)
        asks.append(time.perf_counter() - start)
        values = problem.f(trial.params)
        trial.values, trial.state = tuple(values), TrialState.complete
        strategy.tell(trial, values[0])
        points.append(values)
    return points, asks


def run_optuna(name: str, problem: Problem, seed: int, trials: int) -> Run:
    import optuna
    from hpfw_optuna import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
    }
    m = len(problem.reference)
    study = optuna.create_study(directions=["minimize"] * m, sampler=samplers[name]())
    distributions = {k: to_optuna(d) for k, d in problem.space.items()}
    points, asks = [], []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask(distributions)
        asks.append(time.perf_counter() - start)
        values = problem.f(trial.params)
        study.tell(trial, values)
        points.append(values)
    return points, asks


METHODS: dict[str, Callable[[Problem, int, int], Run]] = {
    "random": lambda p, s, n: run_hpfw("random", p, s, n),
    "bayes": lambda p, s, n: run_hpfw("bayes", p, s, n),
    "tpe": lambda p, s, n: run_optuna("tpe", p, s, n),
    "nsga2": lambda p, s, n: run_optuna("nsga2", p, s, n),
    "gp": lambda p, s, n: run_optuna("gp", p, s, n),
}


def summarise(records: list[dict[str, Any]]) -> str:
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in records)]
    methods = [m for m in METHODS if any(r["method"] == m for r in records)]
    lines = []
    for at in sorted({int(k) for r in records for k in r["hv"]}):
        lines += [f"median hypervolume after {at} trials [min, max] (n seeds)", ""]
        lines += ["| problem (ideal) | " + " | ".join(methods) + " |"]
        lines += ["|---" * (len(methods) + 1) + "|"]
        for p in problems:
            ideal = PROBLEMS[p].ideal
            cells = []
            for m in methods:
                hv = [r["hv"][str(at)] for r in records if _is(r, p, m) and str(at) in r["hv"]]
                cells.append(
                    f"{statistics.median(hv):.4g} [{min(hv):.4g}, {max(hv):.4g}] (n={len(hv)})"
                    if hv
                    else "-"
                )
            label = f"{p} ({ideal:.4g})" if ideal else p
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if "bayes" in methods and "gp" in methods:
            both = [p for p in problems if all(
                math.isfinite(_median(records, p, m, at)) for m in ("bayes", "gp"))]  # fmt: skip
            ok = [
                p
                for p in both
                if _median(records, p, "bayes", at) >= 0.99 * _median(records, p, "gp", at)
            ]
            lines.append(f"\nbayes within 1% of GPSampler or better: {len(ok)}/{len(both)}: {ok}")
        lines.append("")
    lines.append("seconds per ask, median (max) over every ask:")
    for m in methods:
        times = [t for r in records if r["method"] == m for t in r["ask_times"]]
        lines.append(f"  {m:7s} {statistics.median(times):.3f} ({max(times):.2f})")
    return "\n".join(lines)


def _is(record: dict[str, Any], problem: str, method: str) -> bool:
    return record["problem"] == problem and record["method"] == method


def _median(records: list[dict[str, Any]], problem: str, method: str, at: int) -> float:
    hv = [r["hv"][str(at)] for r in records if _is(r, problem, method) and str(at) in r["hv"]]
    return statistics.median(hv) if hv else math.nan


def warm_start(trials: int, seeds: int) -> None:
    """A second bayes sweep warm-started from a first: trials it needs to reach the first's best.

    Hartmann-6 (bench_bayes.py's; minimum -3.3224 inside the box, not on a corner
    that a sweep could hit exactly). The second sweep runs the same space with
    another seed and ``warm_start`` = the first's directory.
    """
    import tempfile

    from bench_bayes import PROBLEMS as SINGLE

    problem = SINGLE["hartmann6"]
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            first = hpfw.sweep(problem.f, problem.space, strategy="bayes", n_trials=trials,
                               seed=seed, directory=f"{tmp}/first", verbose=False)  # fmt: skip
            target = first.best.value
            second = hpfw.sweep(problem.f, problem.space, strategy="bayes", n_trials=trials,
                                seed=seed + 1000, directory=f"{tmp}/second",
                                warm_start=f"{tmp}/first", verbose=False)  # fmt: skip
            reached = next((t.id + 1 for t in second.trials if t.value <= target), None)
            first_at = next(t.id + 1 for t in first.trials if t.value <= target)
            print(f"seed {seed}: first sweep's best {target:.5g} (its trial {first_at} of "
                  f"{trials}); the warm-started sweep reached it after {reached} of its own "
                  f"trials (target <= {trials // 3}); its best {second.best.value:.5g}",
                  flush=True)  # fmt: skip


def ask_times(name: str, trials: int) -> None:
    """Wall and process CPU seconds per multi-objective ``bayes`` ask on ``name``, seed 0."""
    import os

    problem = PROBLEMS[name]
    strategy = hpfw.create_strategy("bayes", problem.space, seed=0)
    strategy.set_objectives(["minimize"] * len(problem.reference))
    rows = []
    for i in range(trials):
        wall, cpu = time.perf_counter(), time.process_time()
        [trial] = strategy.ask(1)
        rows.append((i, time.perf_counter() - wall, time.process_time() - cpu))
        values = problem.f(trial.params)
        trial.values, trial.state = tuple(values), TrialState.complete
        strategy.tell(trial, values[0])
    for lo, hi in ((10, 50), (50, trials)):  # from the first model ask (n_initial = 10)
        part = [r for r in rows if lo <= r[0] < hi]
        if part:
            wall = statistics.median(r[1] for r in part)
            cpu = statistics.median(r[2] for r in part)
            print(
                f"asks {lo}-{hi - 1}: wall median {wall:.3f} s, CPU median {cpu:.3f} s, "
                f"max wall {max(r[1] for r in part):.2f} s; load {os.getloadavg()[0]:.1f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--jsonl", type=Path, help="append every finished run here")
    parser.add_argument("--summarise", type=Path, nargs="+")
    parser.add_argument("--warm-start", action="store_true")
    parser.add_argument("--ask-times", choices=list(PROBLEMS), help="time bayes's asks on one")
    args = parser.parse_args(argv)
    if args.summarise:
        lines = [line for path in args.summarise for line in path.read_text().splitlines()]
        print(summarise([json.loads(line) for line in lines]))
        return
    if args.ask_times:
        ask_times(args.ask_times, args.trials)
        return
    if args.warm_start:
        warm_start(args.trials, args.seeds)
        return
    print(f"# {' '.join(sys.argv)}")
    records = []
    for name in args.problems:
        problem = PROBLEMS[name]
        for method in args.methods:
            for seed in range(args.seeds):
                start = time.perf_counter()
                points, asks = METHODS[method](problem, seed, args.trials)
                hv = {
                    str(at): hypervolume(points[:at], problem.reference)
                    for at in sorted({50, args.trials})
                    if at <= args.trials
                }
                record = {"problem": name, "method": method, "seed": seed, "hv": hv,
                          "ask_times": asks, "seconds": time.perf_counter() - start}  # fmt: skip
                records.append(record)
                print(f"{name} {method} seed {seed}: hv {hv} in {record['seconds']:.0f}s",
                      flush=True)  # fmt: skip
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(record) + "\n")
    print(summarise(records))


if __name__ == "__main__":
    main()
