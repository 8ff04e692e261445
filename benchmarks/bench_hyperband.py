"""Benchmark ``hyperband`` (and BOHB) against ``random`` and ``bayes`` at equal training epochs.

For each setting (the digits MLP and a harder CNN space) and seed, Hyperband
runs its brackets first; its total training epochs ``E`` (promotions count
only the epochs they add, since they continue from checkpoints) then buy
``random`` and ``bayes`` ``E // max_budget`` full-budget trials each. The table
gives each method's best validation accuracy, and the epochs and wall time
each needed to first reach the best accuracy ``random`` found with its whole
budget (the issue's target: Hyperband there within a third of random's epochs).

Everything runs in this process through hpfw's Python API: configs composed
with Hydra's compose API, trained with ``hpfw.trainer.groups.train_many`` (the batched
launcher's engine; one call per rung or trial), strategies driven by ask/tell.

Usage::

    .venv/bin/python benchmarks/bench_hyperband.py [--settings mlp cnn] [--seeds 0 1 2]
        [--methods hyperband bohb random bayes] [--mode sequential|auto|vmap] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir

import hpfw
from hpfw.config import config_dir, register_configs
from hpfw.launch.protocol import MODES
from hpfw.search.overrides import format_value
from hpfw.search.strategy import Strategy
from hpfw.trainer.groups import train_many


@dataclass(frozen=True)
class Setting:
    name: str
    fixed: tuple[str, ...]
    space: dict[str, Any]
    max_budget: int
    eta: int = 3
    iterations: int = 1


SETTINGS = {
    # The default task: hpfw's MLP on digits; budgets 1, 3, 9, 27 epochs.
    "mlp": Setting(
        "mlp",
        ("trainer.batch_size=64",),
        {
            "optimizer.lr": hpfw.Float(1e-4, 3e-1, log=True),
            "regularization.weight_decay": hpfw.Float(1e-6, 1e-1, log=True),
            "regularization.dropout": hpfw.Float(0.0, 0.7),
            "regularization.label_smoothing": hpfw.Float(0.0, 0.3),
        },
        max_budget=27,
        iterations=2,
    ),
    # Harder: a CNN trained with SGD, where a wide learning-rate range makes
    # many configurations useless; budgets 1, 3, 9 epochs (a CNN epoch costs ~15
    # MLP epochs on a CPU).
    "cnn": Setting(
        "cnn",
        ("model=cnn", "model.channels=16", "optimizer=sgd", "trainer.batch_size=64"),
        {
            "optimizer.lr": hpfw.Float(1e-4, 1.0, log=True),
            "optimizer.momentum": hpfw.Float(0.0, 0.99),
            "regularization.dropout": hpfw.Float(0.0, 0.7),
            "regularization.weight_decay": hpfw.Float(1e-6, 1e-1, log=True),
        },
        max_budget=9,
        iterations=3,
    ),
}
METHODS = ("hyperband", "bohb", "random", "bayes")
MODE = "sequential"  # train_many's mode; --mode changes it


@dataclass
class Run:
    """One method on one setting and seed: each trial's value, epochs and finish time."""

    method: str
    values: list[float | None] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)  # epochs each trial trained
    finished: list[float] = field(default_factory=list)  # wall seconds at its batch's end
    train_seconds: float = 0.0  # inside the compiled programs
    compile_seconds: float = 0.0

    @property
    def total_epochs(self) -> int:
        return sum(self.epochs)

    @property
    def best(self) -> float:
        return max((v for v in self.values if v is not None), default=float("nan"))

    def to_reach(self, target: float) -> tuple[int | None, float | None]:
        """Epochs and seconds spent when a trial first reached ``target``."""
        spent = 0
        for value, epochs, seconds in zip(self.values, self.epochs, self.finished, strict=True):
            spent += epochs
            if value is not None and value >= target:
                return spent, seconds
        return None, None


def compose_cfg(overrides: list[str]) -> Any:
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("config", overrides=overrides)


def run_method(
    method: str, setting: Setting, seed: int, n_trials: int | None, workdir: Path
) -> Run:
    """Drives one strategy to its end (or ``n_trials``), training each batch with train_many."""
    space = dict(setting.space)
    options: dict[str, Any] = {}
    name = method
    if method in ("hyperband", "bohb"):
        name = "hyperband"
        options = {
            "max_budget": setting.max_budget,
            "eta": setting.eta,
            "iterations": setting.iterations,
            "proposal": "bayes" if method == "bohb" else "random",
        }
    strategy: Strategy = hpfw.create_strategy(
        name, space, direction="maximize", seed=seed, **options
    )
    run = Run(method)
    batch_size = 1000 if name == "hyperband" else 1  # a whole rung; bayes learns per trial
    started = time.perf_counter()
    while n_trials is None or len(run.values) < n_trials:
        want = batch_size if n_trials is None else min(batch_size, n_trials - len(run.values))
        trials = strategy.ask(want)
        if not trials:
            break
        cfgs = []
        for trial in trials:
            overrides = [*setting.fixed, f"trainer.seed={seed}"]
            overrides += [f"{k}={format_value(v)}" for k, v in trial.params.items()]
            budget = trial.info.get("budget", setting.max_budget)
            overrides += [f"trainer.epochs={budget}"]
            if "config" in trial.info:
                checkpoint = workdir / f"{method}-{seed}" / str(trial.info["config"])
                overrides += [
                    f"trainer.schedule_epochs={setting.max_budget}",
                    f"trainer.checkpoint_dir={format_value(str(checkpoint))}",
                ]
            cfgs.append(compose_cfg(overrides))
        results = train_many(cfgs, mode=MODE)
        now = time.perf_counter() - started
        for trial, result in zip(trials, results, strict=True):
            budget = trial.info.get("budget", setting.max_budget)
            if isinstance(result, BaseException) or result["status"] != "complete":
                value, start = None, 0
            else:
                value = float(result["val_accuracy"])
                start = int(result.get("start_epoch", 0))
                run.train_seconds += float(result["train_seconds"])
                run.compile_seconds += float(result["compile_seconds"])
            strategy.tell(trial, value)
            run.values.append(value)
            run.epochs.append(budget - start)
            run.finished.append(now)
    return run


def bench(setting: Setting, seed: int, methods: list[str], workdir: Path) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    for method in ("hyperband", "bohb"):
        if method in methods:
            runs[method] = run_method(method, setting, seed, None, workdir)
            print(f"  {method}: {len(runs[method].values)} trials, "
                  f"{runs[method].total_epochs} epochs", flush=True)  # fmt: skip
    reference = next(iter(runs.values()), None)
    budget = reference.total_epochs if reference else 13 * setting.max_budget
    n_full = max(budget // setting.max_budget, 2)
    for method in ("random", "bayes"):
        if method in methods:
            runs[method] = run_method(method, setting, seed, n_full, workdir)
            print(f"  {method}: {n_full} trials, {runs[method].total_epochs} epochs", flush=True)
    return runs


def summarise(name: str, per_seed: list[dict[str, Run]]) -> list[dict[str, Any]]:
    """One row per method: medians over seeds of best accuracy and cost to reach random's best."""
    rows = []
    methods = list(per_seed[0])
    for method in methods:
        bests, epochs, seconds, fractions, reached = [], [], [], [], 0
        for runs in per_seed:
            run = runs[method]
            bests.append(run.best)
            target = runs["random"].best if "random" in runs else float("nan")
            e, s = run.to_reach(target)
            if e is not None:
                reached += 1
                epochs.append(e)
                seconds.append(s)
                fractions.append(e / runs["random"].total_epochs)
        rows.append(
            {
                "setting": name,
                "method": method,
                "seeds": len(per_seed),
                "best_val_accuracy": statistics.median(bests),
                "total_epochs": statistics.median(r[method].total_epochs for r in per_seed),
                "wall_seconds": statistics.median(r[method].finished[-1] for r in per_seed),
                "train_seconds": statistics.median(r[method].train_seconds for r in per_seed),
                "compile_seconds": statistics.median(r[method].compile_seconds for r in per_seed),
                "reached_random_best": f"{reached}/{len(per_seed)}",
                "epochs_to_random_best": statistics.median(epochs) if epochs else None,
                "fraction_of_random_epochs": statistics.median(fractions) if fractions else None,
                "seconds_to_random_best": statistics.median(seconds) if seconds else None,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = (
        ("setting", "{}"),
        ("method", "{}"),
        ("best_val_accuracy", "{:.4f}"),
        ("total_epochs", "{:.0f}"),
        ("wall_seconds", "{:.1f}"),
        ("train_seconds", "{:.1f}"),
        ("compile_seconds", "{:.1f}"),
        ("reached_random_best", "{}"),
        ("epochs_to_random_best", "{:.0f}"),
        ("fraction_of_random_epochs", "{:.2f}"),
        ("seconds_to_random_best", "{:.1f}"),
    )
    print("| " + " | ".join(c for c, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = ["-" if row[c] is None else f.format(row[c]) for c, f in columns]
        print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--json", type=Path, default=None, help="write every row here")
    # Sequential by default: on a small CPU a vmapped group is no faster, and each new
    # group width would compile another program (see docs/launcher.md).
    parser.add_argument("--mode", default="sequential", choices=MODES)
    args = parser.parse_args(argv)
    global MODE
    MODE = args.mode
    if "random" not in args.methods:
        parser.error("--methods needs random: it sets the accuracy to reach")
    register_configs()
    print(f"# {platform.processor() or platform.machine()}, python {sys.version.split()[0]}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hyperband-") as tmp:
        for name in args.settings:
            setting = SETTINGS[name]
            per_seed = []
            for seed in args.seeds:
                print(f"{name}, seed {seed}", flush=True)
                per_seed.append(bench(setting, seed, args.methods, Path(tmp) / name))
            rows += summarise(name, per_seed)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
