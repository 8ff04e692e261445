"""Sweep overhead and end-to-end sweep time: hpfw against Hydra's own machinery.

In one run, side by side, reported as ratios:

1. Overhead: a multirun of a trivial task (it squares a number) with Hydra's
   basic sweeper and launcher, and with hpfw's grid sweeper and batched
   launcher (also with a do-nothing Hydra callback, against the basic
   launcher the batched one used to fall back to when callbacks were set).
   Per-trial overhead = (T(64 trials) - T(1 trial)) / 63, which cancels the
   fixed start-up cost; best of ``--repeats``.
2. End to end: 64 trials of the default digits MLP (20 epochs) over learning
   rate, weight decay and dropout. The baseline is Hydra's basic sweeper running
   benchmarks/apps/baseline_app.py (a per-step ``nnx.jit`` loop in the shape of
   the Flax NNX MNIST example) over a 4 x 4 x 4 grid; hpfw runs the same grid,
   and a 64-trial random search over the same ranges, with the batched
   launcher. Every run starts with empty caches (compiles and hpfw's on-disk
   data cache; the baseline's jobs load digits through scikit-learn each).

    python benchmarks/bench_sweep.py [--repeats 3] [--skip-end-to-end]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQUARE = HERE / "apps" / "square_app.py"
BASELINE = HERE / "apps" / "baseline_app.py"

# A do-nothing Hydra callback: what configuring any callback costs per job.
CALLBACK = "+hydra.callbacks.noop._target_=hydra.experimental.callback.Callback"

LRS = "0.0003,0.001,0.003,0.01"
WDS = "0.000001,0.00001,0.0001,0.001"
DROPOUTS = "0.0,0.1,0.2,0.3"


def timed(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return seconds


def overhead(work: Path, env: dict[str, str], repeats: int) -> dict[str, float]:
    py = sys.executable
    runs = {
        "hydra": lambda n, d: [py, str(SQUARE), "-m", f"+x=range(0,{n})", f"hydra.sweep.dir={d}"],
        "hpfw": lambda n, d: [
            py, str(SQUARE), "-m", "hydra/sweeper=grid", "hydra/launcher=batched",
            f"hydra.sweeper.batch_size={n}", f"+x=range(0,{n})", f"hydra.sweep.dir={d}",
        ],
        "hpfw_batch1": lambda n, d: [
            py, str(SQUARE), "-m", "hydra/sweeper=grid", "hydra/launcher=batched",
            "hydra.sweeper.batch_size=1", f"+x=range(0,{n})", f"hydra.sweep.dir={d}",
        ],
        # A Hydra callback configured: the batched launcher's fast path runs it per job ...
        "hpfw_callback": lambda n, d: [
            py, str(SQUARE), "-m", "hydra/sweeper=grid", "hydra/launcher=batched", CALLBACK,
            f"hydra.sweeper.batch_size={n}", f"+x=range(0,{n})", f"hydra.sweep.dir={d}",
        ],
        # ... where it used to fall back to Hydra's basic launcher code for the whole launch.
        "hpfw_fallback": lambda n, d: [
            py, str(SQUARE), "-m", "hydra/sweeper=grid", "hydra/launcher=basic", CALLBACK,
            f"hydra.sweeper.batch_size={n}", f"+x=range(0,{n})", f"hydra.sweep.dir={d}",
        ],
    }  # fmt: skip
    out: dict[str, float] = {}
    for name, cmd in runs.items():
        times = {}
        for n in (1, 64):
            best = min(timed(cmd(n, work / f"{name}-{n}-{r}"), work, env) for r in range(repeats))
            times[n] = best
        out[f"{name}_1_s"], out[f"{name}_64_s"] = times[1], times[64]
        out[f"{name}_per_trial_ms"] = 1000 * (times[64] - times[1]) / 63
    out["ratio"] = out["hydra_per_trial_ms"] / max(out["hpfw_per_trial_ms"], 1e-3)
    out["ratio_batch1"] = out["hydra_per_trial_ms"] / max(out["hpfw_batch1_per_trial_ms"], 1e-3)
    out["ratio_callback"] = out["hpfw_fallback_per_trial_ms"] / max(
        out["hpfw_callback_per_trial_ms"], 1e-3
    )
    return out


def best_from_journal(sweep: Path) -> float:
    values = [
        r["value"]
        for r in map(json.loads, (sweep / "trials.jsonl").read_text().splitlines()[1:])
        if r.get("state") == "complete"
    ]
    return max(values)


def end_to_end(work: Path, env: dict[str, str]) -> dict[str, float]:
    py = sys.executable
    fixed = ["trainer.epochs=20"]
    grid = [
        f"optimizer.lr={LRS}",
        f"regularization.weight_decay={WDS}",
        f"regularization.dropout={DROPOUTS}",
    ]
    ranges = [
        "optimizer.lr=tag(log, interval(0.0003, 0.01))",
        "regularization.weight_decay=tag(log, interval(0.000001, 0.001))",
        "regularization.dropout=interval(0.0, 0.3)",
    ]
    batched = ["hydra/launcher=batched", "hydra.sweeper.batch_size=64"]
    out: dict[str, float] = {}
    runs = {
        "baseline": [py, str(BASELINE), "-m", "hydra/sweeper=basic", *fixed, *grid],
        "hpfw_grid": [py, "-m", "hpfw", "-m", "hydra/sweeper=grid", *batched, *fixed, *grid],
        "hpfw_random": [
            py, "-m", "hpfw", "-m", "hydra/sweeper=random", "hydra.sweeper.n_trials=64",
            "hydra.sweeper.seed=0", *batched, *fixed, *ranges,
        ],
    }  # fmt: skip
    for name, cmd in runs.items():
        sweep = work / f"e2e-{name}"
        # Cold caches: compiles, and hpfw's on-disk data cache. The baseline loads
        # digits through scikit-learn in every job, as a user's own app would.
        data_cache = "" if name == "baseline" else str(work / f"data-{name}")
        run_env = {
            **env,
            "HPFW_CACHE_DIR": str(work / f"cache-{name}"),
            "HPFW_DATA_CACHE_DIR": data_cache,
        }
        out[f"{name}_s"] = timed([*cmd, f"hydra.sweep.dir={sweep}"], work, run_env)
        if name == "baseline":
            results = [
                json.loads(p.read_text())["val_accuracy"] for p in sweep.glob("*/result.json")
            ]
            out["baseline_trials"] = len(results)
            out["baseline_best_val_accuracy"] = max(results)
        else:
            out[f"{name}_best_val_accuracy"] = best_from_journal(sweep)
        print(f"  {name}: {out[f'{name}_s']:.1f} s", flush=True)
    out["ratio_grid"] = out["baseline_s"] / out["hpfw_grid_s"]
    out["ratio_random"] = out["baseline_s"] / out["hpfw_random_s"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONUNBUFFERED"] = "1"
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("overhead (trivial task):", flush=True)
        o = figures["overhead"] = overhead(work, env, args.repeats)
        for name in ("hydra", "hpfw", "hpfw_batch1", "hpfw_callback", "hpfw_fallback"):
            one, many, each = o[f"{name}_1_s"], o[f"{name}_64_s"], o[f"{name}_per_trial_ms"]
            print(
                f"  {name:12s} 1 trial {one:6.2f} s | 64 trials {many:6.2f} s"
                f" | per trial {each:7.1f} ms"
            )
        print(f"  per-trial overhead, Hydra / hpfw: {o['ratio']:.0f}x "
              f"(batch_size=1: {o['ratio_batch1']:.0f}x; target >= 20x)")  # fmt: skip
        print(f"  with a callback, basic-launcher fallback / batched: "
              f"{o['ratio_callback']:.1f}x per trial")  # fmt: skip
        if not args.skip_end_to_end:
            print("end to end (64 trials, digits MLP, 20 epochs):", flush=True)
            e = figures["end_to_end"] = end_to_end(work, env)
            print(
                "  "
                + " | ".join(
                    f"{name} {e[f'{name}_s']:.1f} s (best val {e[f'{name}_best_val_accuracy']:.4f})"
                    for name in ("baseline", "hpfw_grid", "hpfw_random")
                )
            )
            print(f"  wall time, baseline / hpfw: grid {e['ratio_grid']:.1f}x, "
                  f"random {e['ratio_random']:.1f}x (target >= 20x)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
