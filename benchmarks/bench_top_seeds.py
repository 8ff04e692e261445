"""Whether a structural sweep's best validation accuracy differs by chance: top configs retrained.

``bench_structural.py`` compares the best validation accuracy of one 64-trial
sweep run by hpfw now, by hpfw before envelopes and by the per-step baseline.
"Before" trains different initial weights (envelopes draw each unit's weights
by its index: docs/structural.md), and the baseline's sampler draws other
configs, so the best of 64 differs by chance. This script runs a seed-0 sweep
of the setting, takes its ``--top`` configs, and trains each with ``--seeds``
seeds (``trainer.seed``) under two codes:

- ``--before PATH``: hpfw's sweep; its configs trained by hpfw now and before;
- ``--baseline-python PATH``: the baseline's sweep; its configs trained by hpfw
  now and by the baseline app.

A systematic difference shows in the means over every config and seed; a
lucky seed does not.

    python benchmarks/bench_top_seeds.py --setting transformer --before /work/wt-before
    python benchmarks/bench_top_seeds.py --setting transformer \\
        --baseline-python /tmp/venv-base/bin/python
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

import yaml
from bench_structural import BASELINE_APP, CONTINUOUS, SETTINGS, baseline_sweep, hpfw_sweep


def hpfw_code(python: str) -> list[str]:
    return [python, "-m", "hpfw"]


def baseline_code(python: str) -> list[str]:
    return [python, str(BASELINE_APP)]


def accuracies(
    code: list[str], overrides: list[str], seeds: int, out: Path, env: dict
) -> list[float]:
    seed_values = ",".join(str(s) for s in range(seeds))
    batched = ["hydra/launcher=batched"] if code == hpfw_code(code[0]) else []
    cmd = [
        *code,
        "-m",
        *batched,
        *overrides,
        f"trainer.seed={seed_values}",
        f"hydra.sweep.dir={out}",
    ]
    # Outside any checkout: ``python -m hpfw`` imports the package of the current directory.
    subprocess.run(cmd, cwd=out.parent, env=env, check=True, capture_output=True)
    results = sorted(out.glob("*/metrics.json")) or sorted(out.glob("*/result.json"))
    return [json.loads(p.read_text())["val_accuracy"] for p in results]


def top_configs(code: list[str], space: list[str], top: int, sweep: Path, env: dict) -> list:
    """The ``top`` (value, overrides) of a seed-0 random sweep run by ``code``."""
    hpfw = code == hpfw_code(code[0])
    sweep_args = hpfw_sweep(space, 64) if hpfw else baseline_sweep(space, 64)
    cmd = [code[0], *sweep_args, f"hydra.sweep.dir={sweep}"]
    subprocess.run(cmd, cwd=sweep.parent, env=env, check=True, capture_output=True)
    if hpfw:
        rows = [json.loads(line) for line in (sweep / "trials.jsonl").read_text().splitlines()[1:]]
        found = [
            (r["value"], [f"{k}={v}" for k, v in r["params"].items()])
            for r in rows
            if r.get("state") == "complete"
        ]
    else:
        found = [
            (
                json.loads((d / "result.json").read_text())["val_accuracy"],
                [
                    o
                    for o in yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text())
                    if o.split("=")[0] in {s.split("=")[0] for s in space} | {"optimizer"}
                ],
            )
            for d in sweep.iterdir()
            if (d / "result.json").exists()
        ]
    return sorted(found, key=lambda f: -f[0])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="transformer", choices=SETTINGS)
    against = parser.add_mutually_exclusive_group(required=True)
    against.add_argument("--before", help="a worktree of hpfw before envelopes, with .venv")
    against.add_argument("--baseline-python", help="python of a venv with hydra-optuna-sweeper")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    now = hpfw_code(sys.executable)
    if args.before:
        codes = {
            "now": now,
            "before": hpfw_code(str(Path(args.before) / ".venv" / "bin" / "python")),
        }
        sweeper = now
    else:
        codes = {"now": now, "baseline": baseline_code(args.baseline_python)}
        sweeper = codes["baseline"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "HPFW_CACHE_DIR": str(work / "cache")}
        space = [*SETTINGS[args.setting], *CONTINUOUS]
        every: dict[str, list[float]] = {label: [] for label in codes}
        for k, (value, params) in enumerate(
            top_configs(sweeper, space, args.top, work / "sweep", env)
        ):
            overrides = [
                SETTINGS[args.setting][0],
                *(p for p in params if not p.startswith("model=")),
            ]
            line = [f"config {k} (sweep {value:.4f}): {' '.join(overrides[1:])}"]
            for label, code in codes.items():
                values = accuracies(code, overrides, args.seeds, work / f"c{k}-{label}", env)
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
