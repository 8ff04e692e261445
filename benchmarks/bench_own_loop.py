"""A user's own training loop (examples/own_loop, NumPy, no hpfw trainer) with the median pruner.

The same random sweep (same seed, so the same trials) with and without
``hydra.sweeper.pruner=median``: epochs trained (each trial reports every
epoch), the best validation loss, and wall time, side by side.

    .venv/bin/python benchmarks/bench_own_loop.py [--seeds 0 1] [--trials 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from cli_sweeps import ROOT, best, run, states

APP = [
    str(ROOT / "examples" / "own_loop" / "train.py"),
    "-m",
    "hydra/sweeper=random",
    "lr=tag(log, interval(1e-3, 1))",
    "hidden=choice(16, 32, 64)",
    "momentum=interval(0.0, 0.95)",
]
PRUNER = "hydra.sweeper.pruner={name: median, n_startup_trials: 5, n_warmup_steps: 3}"
EPOCHS = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for seed in args.seeds:
            found = {}
            for name, extra in (("no pruner", []), ("median", [PRUNER])):
                out = Path(work) / f"{seed}-{len(extra)}"
                command = [
                    *APP,
                    f"hydra.sweeper.n_trials={args.trials}",
                    f"hydra.sweeper.seed={seed}",
                ]
                result = run([*command, *extra], out, env={"OMP_NUM_THREADS": "1"})
                epochs = sum(len(r.get("intermediate") or []) for r in result["records"])
                found[name] = {
                    "seed": seed,
                    "method": name,
                    "trials": len(result["records"]),
                    "states": states(result),
                    "epochs": epochs,
                    "best_val_loss": round(best(result, maximize=False), 4),
                    "wall_s": round(result["wall"], 1),
                }
            base = found["no pruner"]
            for row in found.values():
                row["epochs_saved"] = f"{1 - row['epochs'] / base['epochs']:.0%}"
                row["wall_vs_no_pruner"] = round(row["wall_s"] / base["wall_s"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    header = [
        "seed",
        "method",
        "trials",
        "states",
        "epochs",
        "epochs_saved",
        "best_val_loss",
        "wall_s",
        "wall_vs_no_pruner",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in header) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
