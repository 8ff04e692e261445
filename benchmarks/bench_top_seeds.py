"""Whether a structural sweep's best validation accuracy is luck of seeds: top configs retrained.

``bench_structural.py`` compares the best validation accuracy of one 64-trial
sweep run by hpfw now and by hpfw before envelopes. The two train different
initial weights (envelopes draw each unit's weights by its index:
docs/structural.md), so the best of 64 differs by chance. This script runs
the setting's seed-0 sweep with hpfw now, takes its ``--top`` configs, and
trains each with ``--seeds`` seeds (``trainer.seed``) under both codes: a
systematic difference shows in the means over every config and seed; a lucky
seed does not.

    python benchmarks/bench_top_seeds.py --setting transformer --before /work/wt-before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_structural import CONTINUOUS, SETTINGS


def accuracies(python: str, overrides: list[str], seeds: int, out: Path, env: dict) -> list[float]:
    seed_values = ",".join(str(s) for s in range(seeds))
    cmd = [python, "-m", "hpfw", "-m", "hydra/launcher=batched", *overrides,
           f"trainer.seed={seed_values}", f"hydra.sweep.dir={out}"]  # fmt: skip
    # Outside any checkout: ``python -m hpfw`` imports the package of the current directory.
    subprocess.run(cmd, cwd=out.parent, env=env, check=True, capture_output=True)
    return [json.loads(p.read_text())["val_accuracy"] for p in sorted(out.glob("*/metrics.json"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="transformer", choices=SETTINGS)
    parser.add_argument("--before", required=True, help="a worktree of hpfw before envelopes")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    codes = {"now": sys.executable, "before": str(Path(args.before) / ".venv" / "bin" / "python")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HPFW_CACHE_DIR": str(work / "cache")}
        sweep = work / "sweep"
        space = [*SETTINGS[args.setting], *CONTINUOUS]
        subprocess.run(
            [sys.executable, "-m", "hpfw", "-m", "hydra/sweeper=random", "hydra.sweeper.seed=0",
             "hydra.sweeper.n_trials=64", "hydra/launcher=batched", "hydra.sweeper.batch_size=64",
             "optimizer=sgd,adam,adamw", *space, f"hydra.sweep.dir={sweep}"],
            cwd=work, env=env, check=True, capture_output=True,
        )  # fmt: skip
        rows = [json.loads(line) for line in (sweep / "trials.jsonl").read_text().splitlines()[1:]]
        done = [r for r in rows if r.get("state") == "complete"]
        every: dict[str, list[float]] = {label: [] for label in codes}
        for k, row in enumerate(sorted(done, key=lambda r: -r["value"])[: args.top]):
            params = [f"{key}={value}" for key, value in row["params"].items()]
            overrides = [SETTINGS[args.setting][0], *params]
            line = [f"config {k} (sweep {row['value']:.4f}): {' '.join(overrides[1:])}"]
            for label, python in codes.items():
                values = accuracies(python, overrides, args.seeds, work / f"c{k}-{label}", env)
                every[label] += values
                line.append(f"  {label}: mean {statistics.mean(values):.4f} "
                            f"{[round(v, 4) for v in values]}")  # fmt: skip
            print("\n".join(line), flush=True)
        for label, values in every.items():
            print(f"all {len(values)} runs, {label}: mean {statistics.mean(values):.4f}, "
                  f"median {statistics.median(values):.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
