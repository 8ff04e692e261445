"""A noisy real objective: the digits MLP's validation accuracy, each trial with a fresh seed.

Each method tunes the learning rate, weight decay and dropout of hpfw's default
digits MLP (``--epochs`` epochs) for ``--budget`` trials; every trial trains
with its own ``trainer.seed``, so the observed accuracy carries the seed's
noise (initialisation, dropout, shuffling), as in a real sweep. The trial a
method reports is then scored by its *true* value, estimated as the mean
validation accuracy over ``--repeats`` fresh seeds (and the mean test accuracy
is shown beside it). ``bayes`` reports two trials from one run: the best
observed (``best_by="observed"``, the default) and the lowest posterior mean
(``best_by="posterior"``). Every trial's params and observed value are kept
in the ``--jsonl`` records, so a run can be replayed into a strategy.

Usage::

    .venv/bin/python benchmarks/bench_bayes_digits.py [--seeds 5] [--budget 30]
        [--epochs 10] [--repeats 8] [--methods bayes tpe random gp] [--jsonl F]
        [--label NAME --options key=value ...] [--summarise F ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench_bayes import _optuna_distributions
from hydra import compose, initialize_config_dir

import hpfw
from hpfw.config import config_dir, register_configs
from hpfw.search import Float

SPACE = {
    "optimizer.lr": Float(1e-4, 3e-1, log=True),
    "regularization.weight_decay": Float(1e-6, 1e-1, log=True),
    "regularization.dropout": Float(0.0, 0.8),
}
REPEAT_SEED = 10_000  # seeds of the re-evaluations, apart from every trial's


def trainer() -> Callable[[Any], dict[str, Any]]:
    """hpfw's ``train_and_evaluate``: one run of a composed config, as a Hydra job runs it."""
    from hpfw.trainer.run import train_and_evaluate

    return train_and_evaluate


def compose_config(overrides: list[str]) -> Any:
    """hpfw's config composed with ``overrides``, as the ``hpfw`` command would."""
    register_configs()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("config", overrides=overrides)


class Objective:
    """Trains one configuration with one seed; caches nothing (noise is the point)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.train = trainer()
        self.trainings = 0

    def __call__(self, params: dict[str, Any], seed: int) -> dict[str, float]:
        overrides = [f"trainer.epochs={self.epochs}", f"trainer.seed={seed}"]
        overrides += [f"{k}={v!r}" for k, v in params.items()]
        metrics = self.train(compose_config(overrides))
        self.trainings += 1
        return {k: float(metrics[k]) for k in ("val_accuracy", "test_accuracy")}

    def true_value(self, params: dict[str, Any], repeats: int) -> dict[str, float]:
        runs = [self(params, REPEAT_SEED + k) for k in range(repeats)]
        return {k: statistics.mean(r[k] for r in runs) for k in runs[0]}


def run_method(
    name: str, objective: Objective, seed: int, budget: int, options: dict[str, Any]
) -> dict[str, Any]:
    """One sweep; returns each trial's params and observed value, and the reported trials."""
    rng = np.random.default_rng([seed, 11])
    trial_seeds = rng.integers(0, 2**31 - 1, size=budget)
    params, values = [], []
    if name in ("bayes", "random"):
        extra = options if name == "bayes" else {}
        strategy = hpfw.create_strategy(name, SPACE, direction="maximize", seed=seed, **extra)
        ids = []
        for k in range(budget):
            [trial] = strategy.ask(1)
            value = objective(trial.params, int(trial_seeds[k]))["val_accuracy"]
            strategy.tell(trial, value)
            params.append(trial.params)
            values.append(value)
            ids.append(trial.id)
        picks = {name: ids.index(strategy.best.id)}  # bayes: as its best_by option says
        if name == "bayes" and strategy.best_by != "posterior":
            strategy.best_by = "posterior"  # what that option would have reported
            picks["bayes-posterior"] = ids.index(strategy.best.id)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler = (
            optuna.samplers.TPESampler(seed=seed)
            if name == "tpe"
            else optuna.samplers.GPSampler(seed=seed)
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        distributions = _optuna_distributions(SPACE)
        for k in range(budget):
            trial = study.ask(distributions)
            value = objective(trial.params, int(trial_seeds[k]))["val_accuracy"]
            study.tell(trial, value)
            params.append(trial.params)
            values.append(value)
        picks = {name: int(np.argmax(values))}
    return {"params": params, "values": values, "picks": picks}


def summarise(records: list[dict[str, Any]]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in records))
    lines = [
        "true validation accuracy of the reported trial (mean over re-evaluation seeds):",
        "median [min, max] over runs; the observed value that won it; mean test accuracy",
        "",
        "| method | true val accuracy | observed (noisy) | test accuracy | runs |",
        "|---|---|---|---|---|",
    ]
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        true = [r["true_val"] for r in rs]
        observed = [r["observed"] for r in rs]
        test = [r["true_test"] for r in rs]
        lines.append(
            f"| {m} | {statistics.median(true):.4f} [{min(true):.4f}, {max(true):.4f}] "
            f"| {statistics.median(observed):.4f} | {statistics.median(test):.4f} | {len(rs)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--methods", nargs="+", default=["bayes", "tpe", "random", "gp"])
    parser.add_argument("--jsonl", type=Path)
    parser.add_argument("--label", help="the name bayes's rows get (default: bayes)")
    parser.add_argument(
        "--options", nargs="*", default=[], help="bayes constructor options, key=value (YAML)"
    )
    parser.add_argument("--summarise", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.summarise:
        lines = [line for path in args.summarise for line in path.read_text().splitlines()]
        print(summarise([json.loads(line) for line in lines]))
        return

    print(f"# {' '.join(sys.argv)}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    options = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.options)}
    objective = Objective(args.epochs)
    truth: dict[str, dict[str, float]] = {}  # re-evaluations, by params
    records = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name in args.methods:
            start = time.perf_counter()
            run = run_method(name, objective, seed, args.budget, options)
            for label, k in run["picks"].items():
                if args.label:
                    label = label.replace("bayes", args.label)
                params = run["params"][k]
                key = json.dumps(params, sort_keys=True)
                if key not in truth:
                    truth[key] = objective.true_value(params, args.repeats)
                record = {
                    "method": label,
                    "seed": seed,
                    "budget": args.budget,
                    "epochs": args.epochs,
                    "params": params,
                    "observed": run["values"][k],
                    "true_val": truth[key]["val_accuracy"],
                    "true_test": truth[key]["test_accuracy"],
                    "values": run["values"],
                    "trials": run["params"],
                    "options": options if name == "bayes" else {},
                    "seconds": time.perf_counter() - start,
                }
                records.append(record)
                print(
                    f"seed {seed} {label:16s} observed {record['observed']:.4f} "
                    f"true {record['true_val']:.4f} test {record['true_test']:.4f} "
                    f"({record['seconds']:.0f} s)",
                    flush=True,
                )
                if args.jsonl:
                    with args.jsonl.open("a") as f:
                        f.write(json.dumps(record) + "\n")
    print()
    print(summarise(records))
    print(f"\n{objective.trainings} trainings")


if __name__ == "__main__":
    main()
