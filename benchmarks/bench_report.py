"""``hpfw report`` on a 10,000-trial journal: the new report (report.html, importances) vs. the old.

Writes a synthetic sweep shaped like one of hpfw's trainer (seven parameters,
log-scaled ones among them, a conditional one; twelve metrics per trial;
3 % failed and 1 % diverged; a metrics.json with ten epochs per completed
job), then times, side by side, each as a fresh process as a user runs it:

- new: ``hpfw report DIR`` of this tree (best.yaml, trials.csv, the PNGs,
  report.html with fANOVA importances, the printed summary);
- old: ``hpfw report DIR`` of the baseline revision (default: main at 231074c,
  before issue 18: best.yaml, trials.csv, the PNGs and the summary only),
  taken from git into a temporary folder.

Prints the times (best of ``--repeats``), their ratio and report.html's size.

    .venv/bin/python benchmarks/bench_report.py [--trials 10000] [--repeats 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpfw.search.space import Categorical, Float, Int, to_json  # noqa: E402
from hpfw.sweeper.journal import Journal  # noqa: E402

BASELINE = "231074c"  # main before issue 18: PNGs and the summary, no report.html
SPACE = {
    "optimizer.lr": Float(1e-4, 1e-1, log=True),
    "regularization.weight_decay": Float(1e-6, 1e-2, log=True),
    "regularization.dropout": Float(0.0, 0.5),
    "model.num_layers": Int(1, 4),
    "model.hidden_dim": Categorical([64, 128, 256]),
    "optimizer": Categorical(["sgd", "adam", "adamw"]),
    "optimizer.momentum": Float(0.0, 0.99),  # sgd only: inactive for the others
}
METRICS = (
    "val_loss", "val_accuracy", "test_loss", "test_accuracy", "train_loss", "compile_seconds",
    "train_seconds", "steps_per_second", "flops", "epochs_completed", "start_epoch", "objective",
)  # fmt: skip
EPOCHS = 10


def write_sweep(sweep: Path, n: int, curves: bool = True) -> None:
    """A random sweep's journal of ``n`` trials (and each job's metrics.json)."""
    rng = random.Random(0)
    journal = Journal(sweep)
    journal.write_header(
        {
            "strategy": "random",
            "direction": "maximize",
            "objective": "val_accuracy",
            "seed": 0,
            "n_trials": n,
            "batch_size": 64,
            "space": {k: to_json(d) for k, d in SPACE.items()},
            "groups": ["optimizer"],
            "fixed_overrides": ["+search=mlp"],
            "command": "hpfw",
            "created": "2026-11-29T12:00:00+00:00",
        }
    )
    records = []
    for k in range(n):
        params = {name: d.from_unit(rng.random()) for name, d in SPACE.items()}
        inactive = [] if params["optimizer"] == "sgd" else ["optimizer.momentum"]
        lr = math.log10(params["optimizer.lr"])
        acc = 0.98 - 0.02 * (lr + 2.5) ** 2 - 0.1 * params["regularization.dropout"] ** 2
        acc += 0.01 * (params["optimizer"] != "sgd") + rng.gauss(0, 0.004)
        u = rng.random()
        state = "failed" if u < 0.03 else "diverged" if u < 0.04 else "complete"
        metrics = {}
        if state == "complete":
            metrics = {m: rng.random() for m in METRICS}
            metrics.update(val_accuracy=acc, objective=acc, epochs_completed=EPOCHS)
        records.append(
            {
                "id": k,
                "job": k,
                "params": params,
                "inactive": inactive,
                "overrides": [f"{p}={v}" for p, v in params.items() if p not in inactive],
                "state": state,
                "value": acc if state == "complete" else None,
                "metrics": metrics,
                "start": "2026-11-29T12:00:00+00:00",
                "end": "2026-11-29T12:00:02+00:00",
                "error": "RuntimeError: out of memory" if state == "failed" else None,
                "traceback": None,
                "info": {},
            }
        )
        if curves and state == "complete":
            job = sweep / str(k)
            job.mkdir()
            values = [acc * (1 - 0.5 ** (e + 1)) for e in range(EPOCHS)]
            epochs = {"epoch": list(range(1, EPOCHS + 1)), "val_accuracy": values}
            data = {"objective": "val_accuracy", "epochs": epochs}
            (job / "metrics.json").write_text(json.dumps(data))
    journal.append_many(records)


def timed(command: list[str], cwd: Path, pythonpath: Path | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``command``.

    CPU time is what the report costs on a quiet machine; wall time also
    counts waiting for a core when others share the machine.
    """
    # Run from elsewhere than the repository: "python -c" puts the working folder
    # first on sys.path, which would shadow the baseline's tree with this one.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return min(r[0] for r in runs), min(r[1] for r in runs)


def baseline_tree(rev: str, into: Path) -> Path:
    """The ``hpfw`` package of revision ``rev``, extracted from git into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "hpfw"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the old report")
    parser.add_argument("--no-curves", action="store_true", help="no metrics.json per job")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "sweep"
        start = time.perf_counter()
        write_sweep(sweep, args.trials, curves=not args.no_curves)
        print(f"wrote a {args.trials}-trial sweep in {time.perf_counter() - start:.1f} s")
        old_tree = baseline_tree(args.baseline, Path(tmp) / "old")
        code = "import sys; from hpfw.cli import report; sys.exit(report(sys.argv[1:]))"
        new = [sys.executable, "-m", "hpfw", "report", str(sweep)]
        old = [sys.executable, "-c", code, str(sweep)]
        print(f"load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        new_wall, new_cpu = best([timed(new, Path(tmp)) for _ in range(args.repeats)])
        old_wall, old_cpu = best([timed(old, Path(tmp), old_tree) for _ in range(args.repeats)])
        html = sweep / "report.html"
        size = html.stat().st_size
        print(f"best of {args.repeats}       wall s   CPU s")
        print(f"new hpfw report  {new_wall:7.2f} {new_cpu:7.2f}  (PNGs, report.html, importances)")
        print(f"old hpfw report  {old_wall:7.2f} {old_cpu:7.2f}  ({args.baseline}: PNGs only)")
        print(f"ratio new/old    {new_wall / old_wall:7.2f} {new_cpu / old_cpu:7.2f}")
        print(f"report.html: {size / 1e6:.2f} MB ({size} bytes)")


if __name__ == "__main__":
    main()
