"""Asynchronous against batch-synchronous sweeps: equal trials of varied length, 4 workers.

Each trial trains for a number of epochs drawn from 1-30 (the same trials in
both modes: same seed). Batch-synchronous (``batch_size=4``) launches four
and waits for the slowest; asynchronous (``concurrent_trials=4``) starts the
next trial as soon as one ends. Both through ``hydra/launcher=joblib`` with
four worker processes. Two workloads:

- ``device``: tests/apps/curve/app.py, whose "epoch" sleeps 0.1 s: a trial
  that waits on an accelerator (or a remote service) rather than on this
  machine's CPU, so only the scheduling differs.
- ``numpy``: examples/own_loop/train.py, a NumPy MLP on digits (a real CPU
  loop, one BLAS thread per worker).

Modes alternate, ``--repeats`` times, so the wall-time ratios share the load.

    .venv/bin/python benchmarks/bench_async.py [--repeats 2] [--trials 32] [--workloads ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

from cli_sweeps import ROOT, run, states

WORKLOADS = {
    "device": [
        str(ROOT / "tests" / "apps" / "curve" / "app.py"),
        "-m",
        "x=interval(0, 1)",
        "epochs=int(interval(1, 30))",
        "sleep=0.1",
    ],
    "numpy": [
        str(ROOT / "examples" / "own_loop" / "train.py"),
        "-m",
        "lr=tag(log, interval(1e-2, 2e-1))",
        "epochs=int(interval(1, 30))",
    ],
}
MODES = {
    "batches": ["hydra.sweeper.batch_size=4"],
    "async": ["hydra.sweeper.concurrent_trials=4"],
}
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for workload in args.workloads:
            for repeat in range(args.repeats):
                walls = {}
                order = list(MODES) if repeat % 2 == 0 else list(MODES)[::-1]
                for mode in order:
                    out = Path(work) / f"{workload}-{mode}-{repeat}"
                    command = [
                        *WORKLOADS[workload],
                        "hydra/sweeper=random",
                        f"hydra.sweeper.n_trials={args.trials}",
                        f"hydra.sweeper.seed={args.seed}",
                        "hydra/launcher=joblib",
                        "hydra.launcher.n_jobs=4",
                        *MODES[mode],
                    ]
                    result = run(command, out, env=ONE_THREAD)
                    epochs = sum(r["params"]["epochs"] for r in result["records"])
                    walls[mode] = result["wall"]
                    row = {
                        "workload": workload,
                        "repeat": repeat,
                        "mode": mode,
                        "wall_s": round(result["wall"], 1),
                        "epochs": epochs,
                        "states": states(result),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                ratio = walls["batches"] / walls["async"]
                rows.append(
                    {"workload": workload, "repeat": repeat, "batches/async": round(ratio, 2)}
                )
                print(f"{workload} repeat {repeat}: batches/async wall = {ratio:.2f}x", flush=True)
    print(f"\nmachine: {platform.node()}")
    for workload in args.workloads:
        ratios = [
            r["batches/async"]
            for r in rows
            if r.get("workload") == workload and "batches/async" in r
        ]
        listed = ", ".join(f"{x:.2f}x" for x in ratios)
        print(f"{workload}: batches/async {listed}; median {statistics.median(ratios):.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
