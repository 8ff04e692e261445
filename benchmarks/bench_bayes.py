"""Benchmark the ``bayes`` strategy against ``random``, Optuna's TPE and Optuna's GPSampler.

Problems (``bayes_problems.py``): smooth and multimodal test functions in 2-6
dimensions, mixed spaces with discrete local optima, 20- and 50-dimensional
ones, and a noisy Hartmann-6. For each problem, method and seed, a run asks
``--batch`` trials at a time (all asked before any is told, as parallel workers
would) until ``--budget`` trials have run. A run's regret is the *true* value
of the trial the method would report minus the optimum: the best observed
trial (``bayes``: its ``best``, which follows its ``best_by`` option). On mixed
spaces each run is also checked for a stuck discrete value: whether a single
change of one categorical or integer (±1 step) at the reported trial's
continuous values is better by at least half the regret.

Usage::

    .venv/bin/pip install -e '.[bench]'       # optuna and torch (GPSampler needs torch)
    .venv/bin/python benchmarks/bench_bayes.py [--seeds 10] [--budget 50] [--batch 1]
        [--problems classic mixed ...] [--methods bayes random tpe gp]
        [--options best_by=posterior ...] [--label NAME] [--jsonl runs.jsonl]
        [--timing-only | --no-timing] [--summarise runs.jsonl ...] [--plot regret.png]

``--problems`` takes names or groups (see ``GROUPS``); without ``--budget`` a
problem runs its group's budget. Every finished run is appended to ``--jsonl``
as it ends, so a long benchmark can be split across processes and summarised
together with ``--summarise``. ``--plot`` draws the runs' regret over trials
(``bayes_plots.py``): the median over seeds per method, one panel per problem.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bayes_problems import DISCRETE, PROBLEMS, Problem

import hpfw
from hpfw.search import Categorical, Float, Int
from hpfw.search.strategy import Trial

GROUPS: dict[str, tuple[list[str], int]] = {  # problems, default budget
    "classic": (["branin", "hartmann6", "ackley5", "levy5", "rosenbrock4"], 50),
    "multimodal": (["styblinski4", "rastrigin5r", "schaffer5"], 50),
    "mixed": (list(DISCRETE), 30),
    "highdim": (["branin20", "hartmann6_20", "ackley20", "ellipsoid20"], 150),
    "highdim50": (["branin50", "ellipsoid50"], 200),
    "noisy": (["hartmann6_noisy"], 100),
}
BUDGET = {p: budget for names, budget in GROUPS.values() for p in names}

# --- methods ----------------------------------------------------------------------


class Run:
    """One run's record: observed values, true values, ask times, the reported trial."""

    def __init__(self) -> None:
        self.observed: list[float] = []
        self.true: list[float] = []
        self.params: list[dict[str, Any]] = []
        self.ask_times: list[float] = []
        self.pick: int | None = None  # index of the trial the method reports
        self.other_pick: int | None = None  # bayes on a noisy problem: best_by="posterior"


def _observe(problem: Problem, params: dict[str, Any], rng: np.random.Generator, run: Run) -> float:
    true = problem.f(params)
    value = true + (problem.noise * rng.normal() if problem.noise else 0.0)
    run.observed.append(value)
    run.true.append(true)
    run.params.append(params)
    return value


def run_hpfw(
    name: str, problem: Problem, seed: int, budget: int, batch: int, options: dict[str, Any]
) -> Run:
    strategy = hpfw.create_strategy(name, problem.space, direction="minimize", seed=seed, **options)
    rng, run, ids = np.random.default_rng([seed, 7]), Run(), []
    while len(run.observed) < budget:
        start = time.perf_counter()
        trials = strategy.ask(min(batch, budget - len(run.observed)))
        run.ask_times.append(time.perf_counter() - start)
        for trial in trials:
            strategy.tell(trial, _observe(problem, trial.params, rng, run))
            ids.append(trial.id)
    best = strategy.best
    run.pick = ids.index(best.id) if best is not None else None
    if problem.noise and getattr(strategy, "best_by", None) == "observed":
        strategy.best_by = "posterior"  # what the other option would have reported
        run.other_pick = ids.index(strategy.best.id)
    return run


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


def run_optuna(name: str, problem: Problem, seed: int, budget: int, batch: int) -> Run:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if name == "tpe"
        else optuna.samplers.GPSampler(seed=seed)
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    distributions = _optuna_distributions(problem.space)
    rng, run = np.random.default_rng([seed, 7]), Run()
    while len(run.observed) < budget:
        start = time.perf_counter()
        # Asked before any is told: the later ones see the earlier ones as running trials.
        trials = [study.ask(distributions) for _ in range(min(batch, budget - len(run.observed)))]
        run.ask_times.append(time.perf_counter() - start)
        for trial in trials:
            study.tell(trial, _observe(problem, trial.params, rng, run))
    run.pick = int(np.argmin(run.observed))
    return run


def method(name: str, options: dict[str, Any]) -> Callable[[Problem, int, int, int], Run]:
    if name in ("bayes", "random"):
        return lambda p, s, b, q: run_hpfw(name, p, s, b, q, options if name == "bayes" else {})
    return lambda p, s, b, q: run_optuna(name, p, s, b, q)


# --- the stuck-discrete check -----------------------------------------------------


def neighbours(space: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point one discrete change away: another choice, or an integer one step off."""
    out = []
    for name, dist in space.items():
        if isinstance(dist, Categorical):
            values = [c for c in dist.choices if c != params[name]]
        elif isinstance(dist, Int):
            values = [params[name] + s for s in (-dist.step, dist.step)]
            values = [v for v in values if dist.contains(v)]
        else:
            continue
        out += [{**params, name: v} for v in values]
    return out


def stuck(problem: Problem, params: dict[str, Any]) -> dict[str, Any] | None:
    """The best single discrete change if it removes at least half the regret, else ``None``."""
    regret = problem.f(params) - problem.optimum
    if regret <= 1e-6:
        return None
    best = min(neighbours(problem.space, params), key=problem.f)
    return best if problem.f(best) <= problem.f(params) - 0.5 * regret else None


# --- timing -----------------------------------------------------------------------


def time_asks(
    n_observed: int,
    asks: int,
    warmup: int,
    q: int = 1,
    eval_seconds: float = 0.0,
    options: dict[str, Any] | None = None,
    problem_name: str = "hartmann6",
) -> tuple[list, list]:
    """Wall and process CPU seconds per ``bayes`` ``ask(q)`` with ``n_observed`` told trials.

    On ``problem_name`` (Hartmann-6 by default), after ``n_observed`` random
    points of its space; every ask is told before the next, so each one
    refits the model as in a sweep. CPU time is reported too: on a shared
    machine the wall time also counts the time other jobs held the cores.
    ``eval_seconds``: the time the asked trials take to run (a sleep) before
    they are told, which a background compile of the next padded size can use
    (process CPU seconds count every thread, so that compile counts in the ask
    it overlaps).
    """
    problem = PROBLEMS[problem_name]
    strategy = hpfw.create_strategy("bayes", problem.space, seed=0, **(options or {}))
    # Random points of the space (floats, integers and choices alike) as the history.
    history = hpfw.create_strategy("random", problem.space, seed=0).ask(n_observed)
    for k, drawn in enumerate(history):
        strategy.tell(Trial(k, drawn.params), problem.f(drawn.params))
    walls, cpus = [], []
    for k in range(warmup + asks):
        start, cpu = time.perf_counter(), time.process_time()
        trials = strategy.ask(q)
        if k >= warmup:
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        time.sleep(eval_seconds)
        for trial in trials:
            strategy.tell(trial, problem.f(trial.params))
    return walls, cpus


def timing_report(
    repeats: int,
    eval_seconds: float = 0.0,
    options: dict[str, Any] | None = None,
    problem: str = "hartmann6",
) -> str:
    lines = [
        f"bayes ask times ({problem}, after warm-up asks, each ask told after "
        f"{eval_seconds:g} s; options {options or {}}):"
    ]
    for n, q, asks, warmup in ((50, 1, 10, 3), (200, 1, 20, 3), (200, 32, 3, 1)):
        for r in range(repeats):
            walls, cpus = time_asks(n, asks, warmup, q, eval_seconds, options, problem)
            load = os.getloadavg()[0]
            lines.append(
                f"  ask({q}) at {n} observed, run {r + 1}: wall median "
                f"{statistics.median(walls):.3f} s (min {min(walls):.3f}, "
                f"max {max(walls):.3f}); CPU median "
                f"{statistics.median(cpus):.3f} s (max {max(cpus):.3f}); {len(walls)} asks, "
                f"load average {load:.1f}"
            )
            if q > 1:
                lines.append("    each (wall): " + " ".join(f"{t:.2f}" for t in walls))
                lines.append("    each (CPU):  " + " ".join(f"{t:.2f}" for t in cpus))
    return "\n".join(lines)


# --- reporting --------------------------------------------------------------------


def _median(records: list[dict[str, Any]], problem: str, method: str) -> float:
    regrets = [r["regret"] for r in records if r["problem"] == problem and r["method"] == method]
    return statistics.median(regrets) if regrets else math.nan


def _labelled(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its batch size and a non-default budget in its method's name."""
    method = record["method"]
    if record.get("batch", 1) > 1:
        method += f" q={record['batch']}"
    if record["budget"] != BUDGET.get(record["problem"], record["budget"]):
        method += f" n={record['budget']}"
    return {**record, "method": method}


def summarise(records: list[dict[str, Any]]) -> str:
    records = [_labelled(r) for r in records]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in records)]
    methods = list(dict.fromkeys(r["method"] for r in records))
    lines = [
        "regret of the reported trial after the budget: median [IQR q1, q3] (n seeds)",
        "",
        "| problem | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for p in problems:
        cells = []
        for m in methods:
            regrets = [r["regret"] for r in records if r["problem"] == p and r["method"] == m]
            if regrets:
                q1, q2, q3 = np.percentile(regrets, [25, 50, 75])
                cells.append(f"{q2:.3g} [{q1:.3g}, {q3:.3g}] ({len(regrets)})")
            else:
                cells.append("-")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "seconds per ask call: median (max) over all runs"]
    for m in methods:
        times = [t for r in records if r["method"] == m for t in r["ask_times"]]
        lines.append(f"  {m:14s} {statistics.median(times):.4f}  ({max(times):.2f})")
    noisy = [r for r in records if r.get("regret_posterior") is not None]
    if noisy:
        lines += ["", "noisy problems, bayes: regret of the trial best_by=posterior reports"]
        for m in methods:
            for p in problems:
                runs = [
                    r["regret_posterior"] for r in noisy if (r["method"], r["problem"]) == (m, p)
                ]
                if runs:
                    q1, q2, q3 = np.percentile(runs, [25, 50, 75])
                    lines.append(f"  {m:14s} {p:16s} {q2:.3g} [{q1:.3g}, {q3:.3g}] ({len(runs)})")
    stuck_runs = [r for r in records if r["problem"] in DISCRETE]
    if stuck_runs:
        lines += ["", "runs stuck on a wrong discrete value (seeds):"]
        for m in methods:
            for p in problems:
                runs = [r for r in stuck_runs if r["method"] == m and r["problem"] == p]
                if runs:
                    bad = [r["seed"] for r in runs if r["stuck"]]
                    lines.append(f"  {m:14s} {p:8s} {len(bad)}/{len(runs)} {bad}")
    for m in methods:
        if not m.startswith("bayes"):
            continue
        for base in ("tpe", "gp"):
            if base in methods:
                won = [p for p in problems if _median(records, p, m) < _median(records, p, base)]
                lines.append(f"{m} median regret < {base} on {len(won)}/{len(problems)}: {won}")
    return "\n".join(lines)


def _plot(records: list[dict[str, Any]], path: Path | None) -> None:
    if path is not None:
        from bayes_plots import plot_regret  # matplotlib: only when drawing

        problems = plot_regret([_labelled(r) for r in records], path)
        print(f"\nregret over trials ({', '.join(problems)}): {path}")


def _parse_options(items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, help="trials per run (default: the group's)")
    parser.add_argument("--batch", type=int, default=1, help="trials asked before any is told")
    parser.add_argument("--problems", nargs="+", default=["classic"])
    parser.add_argument("--methods", nargs="+", default=["bayes", "random", "tpe", "gp"])
    parser.add_argument("--options", nargs="*", default=[], help="bayes options, key=json")
    parser.add_argument("--label", help="method name to record for bayes (default: bayes)")
    parser.add_argument("--jsonl", type=Path, help="append every finished run here")
    parser.add_argument("--no-timing", action="store_true", help="skip the ask timing")
    parser.add_argument("--timing-only", action="store_true", help="only the ask timing")
    parser.add_argument("--timing-repeats", type=int, default=3)
    parser.add_argument(
        "--timing-problems", nargs="+", default=["hartmann6"], help="timing: on these problems"
    )
    parser.add_argument(
        "--eval-seconds", type=float, default=0.0, help="timing: seconds between ask and tell"
    )
    parser.add_argument("--summarise", type=Path, nargs="+", help="summarise these files only")
    parser.add_argument("--rename", nargs="*", default=[], help="with --summarise: OLD=NEW label")
    parser.add_argument("--plot", type=Path, help="draw the runs' regret over trials (PNG)")
    args = parser.parse_args(argv)

    if args.summarise:
        # With --summarise, --first-seed and --seeds select seeds only if given.
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        explicit = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])}
        renamed = dict(item.split("=", 1) for item in args.rename)
        records = [
            json.loads(line) for path in args.summarise for line in path.read_text().splitlines()
        ]
        records = [
            {**r, "method": renamed.get(r["method"], r["method"])}
            for r in records
            if r["seed"] in seeds or not {"--seeds", "--first-seed"} & explicit
        ]
        print(summarise(records))
        _plot(records, args.plot)
        return
    names = [p for g in args.problems for p in (GROUPS[g][0] if g in GROUPS else [g])]
    unknown = [p for p in names if p not in PROBLEMS]
    if unknown:
        parser.error(f"unknown problems {unknown}; known: {list(PROBLEMS)} or {list(GROUPS)}")
    options = _parse_options(args.options)

    print(f"# {' '.join(sys.argv)}")
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    records = []
    for problem_name in [] if args.timing_only else names:
        problem = PROBLEMS[problem_name]
        budget = args.budget or BUDGET.get(problem_name, 50)
        for name in args.methods:
            label = (args.label or "bayes") if name == "bayes" else name
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                start = time.perf_counter()
                run = method(name, options)(problem, seed, budget, args.batch)
                picked = run.params[run.pick]
                record = {
                    "problem": problem_name,
                    "method": label,
                    "options": options if name == "bayes" else {},
                    "seed": seed,
                    "budget": budget,
                    "batch": args.batch,
                    "regret": run.true[run.pick] - problem.optimum,
                    "regret_observed": run.true[int(np.argmin(run.observed))] - problem.optimum,
                    "regret_posterior": None
                    if run.other_pick is None
                    else run.true[run.other_pick] - problem.optimum,
                    "true": run.true,
                    "observed": run.observed,
                    "ask_times": run.ask_times,
                    "seconds": time.perf_counter() - start,
                    "stuck": stuck(problem, picked) if problem_name in DISCRETE else None,
                }
                records.append(record)
                print(
                    f"{problem_name:14s} {label:10s} seed {seed:2d} regret "
                    f"{record['regret']:.4g} ({record['seconds']:.1f} s)"
                    + (f" STUCK -> {record['stuck']}" if record["stuck"] else ""),
                    flush=True,
                )
                if args.jsonl:
                    with args.jsonl.open("a") as f:
                        f.write(json.dumps(record) + "\n")
    if records:
        print()
        print(summarise(records))
        _plot(records, args.plot)
    if args.timing_only or (not args.no_timing and "bayes" in args.methods):
        print()
        for problem in args.timing_problems:
            print(timing_report(args.timing_repeats, args.eval_seconds, options, problem))


if __name__ == "__main__":
    main()
