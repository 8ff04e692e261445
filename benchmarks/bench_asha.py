"""ASHA (``hydra.sweeper.pruner=asha``) against random search with equal trials, end to end.

The digits MLP through the ``hpfw`` command, as a user would run it: 40 trials
of random search over learning rate, dropout and weight decay at 27 epochs,
with the batched launcher (one batch, trials side by side), and the same 40
trials (same seed) with the ASHA pruner, batch-synchronous and asynchronous
(``concurrent_trials=2``), and with the Hyperband pruner (ASHA brackets).
``hyperband`` (the strategy, promotions as new jobs
continuing from Orbax checkpoints) runs beside them for reference. Methods run
interleaved, ``--repeats`` times per seed, so wall-time ratios share the
machine's load. Reported: wall seconds, epochs trained (from the journal's
per-epoch reports), best validation accuracy of a full-length (27-epoch)
trial, and the ratios to random of the same seed and repeat.

    .venv/bin/python benchmarks/bench_asha.py [--seeds 1 2] [--repeats 2] [--trials 40]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

from cli_sweeps import best, epochs_trained, run, states

SPACE = [
    "optimizer.lr=tag(log, interval(1e-4, 3e-2))",
    "regularization.dropout=interval(0.0, 0.5)",
    "regularization.weight_decay=tag(log, interval(1e-6, 1e-2))",
]
EPOCHS = 27


def methods(trials: int) -> dict[str, list[str]]:
    common = ["-m", "hpfw", "-m", *SPACE, "hydra/launcher=batched", "trainer.batch_size=64"]
    flat = [
        *common,
        "hydra/sweeper=random",
        f"hydra.sweeper.n_trials={trials}",
        f"trainer.epochs={EPOCHS}",
    ]
    return {
        "random": [*flat, f"hydra.sweeper.batch_size={trials}"],
        "asha": [*flat, f"hydra.sweeper.batch_size={trials}", "hydra.sweeper.pruner=asha"],
        "asha-async": [*flat, "hydra.sweeper.concurrent_trials=2", "hydra.sweeper.pruner=asha"],
        "hyperband-pruner": [
            *flat,
            f"hydra.sweeper.batch_size={trials}",
            "hydra.sweeper.pruner=hyperband",
        ],
        "hyperband": [
            *common,
            "hydra/sweeper=hyperband",
            f"hydra.sweeper.max_budget={EPOCHS}",
            "hydra.sweeper.batch_size=64",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["random", "asha", "asha-async", "hyperband"],
        choices=list(methods(1)),
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    commands = methods(args.trials)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for seed in args.seeds:
            for repeat in range(args.repeats):
                order = args.methods if repeat % 2 == 0 else args.methods[::-1]
                found = {}
                for name in order:
                    out = Path(work) / f"{name}-{seed}-{repeat}"
                    result = run([*commands[name], f"hydra.sweeper.seed={seed}"], out)
                    full = [
                        r
                        for r in result["records"]
                        if r["state"] == "complete"
                        and epochs_trained(r, EPOCHS) + int(r["metrics"].get("start_epoch", 0) or 0)
                        == EPOCHS
                    ]
                    found[name] = {
                        "seed": seed,
                        "repeat": repeat,
                        "method": name,
                        "wall_s": round(result["wall"], 1),
                        "trials": len(result["records"]),
                        "states": states(result),
                        "epochs": sum(epochs_trained(r, EPOCHS) for r in result["records"]),
                        "best_val_accuracy": best({"records": full}, maximize=True),
                    }
                    print(json.dumps(found[name]), flush=True)
                base = found.get("random")
                for row in found.values():
                    if base:
                        row["wall_vs_random"] = round(row["wall_s"] / base["wall_s"], 2)
                        row["epochs_vs_random"] = round(row["epochs"] / base["epochs"], 3)
                    rows.append(row)
    print(f"\nmachine: {platform.node()} {platform.processor() or platform.machine()}")
    header = [
        "seed",
        "repeat",
        "method",
        "trials",
        "epochs",
        "epochs_vs_random",
        "wall_s",
        "wall_vs_random",
        "best_val_accuracy",
        "states",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in header) + " |")
    for name in args.methods:
        mine = [r for r in rows if r["method"] == name]
        if mine and "wall_vs_random" in mine[0]:
            walls = statistics.median(r["wall_vs_random"] for r in mine)
            epochs = statistics.median(r["epochs_vs_random"] for r in mine)
            print(f"{name}: median wall/random {walls:.2f}, epochs/random {epochs:.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
