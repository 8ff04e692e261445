"""Structural sweeps end to end through the CLI: hpfw now, hpfw before envelopes, and a baseline.

In one run, per setting, on cold compile caches, side by side:

- **hpfw**: ``hpfw -m hydra/sweeper=random hydra/launcher=batched`` over the
  setting's space (continuous values, optimiser family, widths, depths, batch
  size, epochs); the sweeper passes the envelope and the cost model picks the
  programs (docs/structural.md).
- **before**: the same command run by hpfw at the commit before envelopes
  (``--before``: a worktree with its own ``.venv``), where every new
  structural value compiled a program.
- **baseline**: hydra-optuna-sweeper (random sampler, same space) running
  benchmarks/apps/structural_baseline_app.py, a per-step ``nnx.jit`` loop in the
  shape of the Flax NNX MNIST example (``--baseline-python``: a venv with
  hydra-optuna-sweeper and this hpfw).

It prints wall seconds, compiles (hpfw: trials that report a compile), the
best validation accuracy, ratios, and the load average around each run (the
development machine is shared).

    python benchmarks/bench_structural.py --settings mlp --before /work/wt-before \\
        --baseline-python /tmp/venv-base/bin/python [--trials 64] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE_APP = HERE / "apps" / "structural_baseline_app.py"

CONTINUOUS = [
    "optimizer.lr=tag(log,interval(0.0001,0.03))",
    "regularization.weight_decay=tag(log,interval(0.000001,0.01))",
    "regularization.dropout=interval(0.0,0.5)",
]
SETTINGS = {
    # The seed-wide sweep of issue 14.
    "mlp": [
        "model=mlp",
        "model.hidden_dim=choice(64,128,256,512)",
        "model.num_layers=int(interval(1,4))",
        "trainer.batch_size=choice(32,64,128)",
        "trainer.epochs=choice(10,20,30)",
    ],
    "cnn": [
        "model=cnn",
        "model.channels=choice(8,16,32)",
        "model.num_conv_layers=int(interval(1,3))",
        "model.hidden_dim=choice(32,64,128)",
        "trainer.batch_size=choice(32,64,128)",
        "trainer.epochs=choice(2,4,6)",
    ],
    "transformer": [
        "model=transformer",
        "model.num_heads=choice(1,2,4)",
        "model.num_layers=int(interval(1,3))",
        "model.d_model=choice(16,32,64)",
        "model.mlp_dim=choice(32,64,128)",
        "trainer.batch_size=choice(32,64,128)",
        "trainer.epochs=choice(2,4,6)",
    ],
}
# The README's early-stopping example as it stands (its own space: +search=mlp), run by
# hpfw now and before (no baseline): Hyperband's rungs continue from checkpoints, so
# before envelopes every (architecture, start epoch, end epoch) compiled a program.
README_HYPERBAND = [
    "hydra/sweeper=hyperband", "hydra.sweeper.max_budget=27", "hydra.sweeper.batch_size=64",
    "hydra/launcher=batched", "+search=mlp",
]  # fmt: skip


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    before = load()
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-4000:]}")
    return seconds, f"{before} -> {load()}"


def hpfw_figures(sweep: Path) -> dict[str, float]:
    lines = (sweep / "trials.jsonl").read_text().splitlines()[1:]
    values = [r["value"] for r in map(json.loads, lines) if r.get("state") == "complete"]
    metrics = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    compiles = [m for m in metrics if m.get("compile_cache") not in (None, "process")]
    return {
        "best_val_accuracy": max(values),
        "completed": len(values),
        "compiles": len(compiles),
        "compile_seconds": sum(m["compile_seconds"] for m in compiles),
        "train_seconds": sum(m["train_seconds"] for m in metrics),
    }


def hpfw_sweep(space: list[str], trials: int) -> list[str]:
    """hpfw's arguments (after ``python``) for the setting's seed-0 random sweep."""
    return [
        "-m", "hpfw", "-m", "hydra/sweeper=random", f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.seed=0", "hydra/launcher=batched", f"hydra.sweeper.batch_size={trials}",
        "optimizer=sgd,adam,adamw", *space,
    ]  # fmt: skip


def baseline_sweep(space: list[str], trials: int) -> list[str]:
    """The baseline app's arguments (after ``python``): optuna's seed-0 random sampler."""
    return [
        str(BASELINE_APP), "-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0", f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.direction=maximize", "optimizer=choice(sgd,adam,adamw)", *space,
    ]  # fmt: skip


def setting(name: str, args: argparse.Namespace, work: Path, env: dict[str, str]) -> dict:
    if name == "readme_hyperband":
        space = []
        hpfw_args = ["-m", "hpfw", "-m", *README_HYPERBAND]
    else:
        space = [*SETTINGS[name], *CONTINUOUS]
        hpfw_args = hpfw_sweep(space, args.trials)
    runs: dict[str, list[str]] = {"hpfw": [sys.executable, *hpfw_args]}
    if args.before:
        runs["before"] = [str(Path(args.before) / ".venv" / "bin" / "python"), *hpfw_args]
    if args.baseline_python and space:
        runs["baseline"] = [args.baseline_python, *baseline_sweep(space, args.trials)]
    out: dict[str, dict] = {}
    for label, cmd in runs.items():
        sweep = work / f"{name}-{label}"
        run_env = {
            **env,
            "HPFW_CACHE_DIR": str(work / f"cache-{name}-{label}"),  # cold compile cache
            "HPFW_DATA_CACHE_DIR": str(work / f"data-{name}-{label}"),
        }
        seconds, loads = run([*cmd, f"hydra.sweep.dir={sweep}"], work, run_env)
        figures: dict = {"seconds": seconds, "load": loads}
        if label == "baseline":
            results = [json.loads(p.read_text()) for p in sweep.glob("*/result.json")]
            figures |= {
                "best_val_accuracy": max(r["val_accuracy"] for r in results),
                "completed": len(results),
            }
        else:
            figures |= hpfw_figures(sweep)
        out[label] = figures
        print(f"  {name} {label}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float)
              else f"{k} {v}" for k, v in figures.items()), flush=True)  # fmt: skip
    for label in ("before", "baseline"):
        if label in out:
            ratio = out[label]["seconds"] / out["hpfw"]["seconds"]
            out[f"{label}_over_hpfw"] = ratio
            print(f"  {name}: wall time, {label} / hpfw = {ratio:.1f}x", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings", nargs="+", default=["mlp"], choices=[*SETTINGS, "readme_hyperband"]
    )
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--before", help="a worktree of hpfw before envelopes, with .venv")
    parser.add_argument("--baseline-python", help="python of a venv with hydra-optuna-sweeper")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONUNBUFFERED"] = "1"
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings:
            search = (
                "the README's hyperband"
                if name == "readme_hyperband"
                else (f"{args.trials} trials, random search")
            )
            print(f"{name}: {search} (load average 1/5 min)", flush=True)
            figures[name] = setting(name, args, Path(tmp), env)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
