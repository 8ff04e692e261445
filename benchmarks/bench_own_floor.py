"""A structural sweep's training floor: its trials on their own programs, one core, one at a time.

Runs ``bench_structural.py``'s seed-0 random sweep of a setting (the same 64
configs) with every trial on a program of its own sizes (no envelope: the
``trainer.envelope.trials=1`` override), the basic launcher (one trial at a
time), pinned to one core with XLA single-threaded, on a cold compile cache.
Prints the trials' summed training seconds, by the values of one key, and
beside them a finished sweep's (``--against SWEEP_DIR``, e.g. hpfw's sweep of
the same setting), matched by config. What the trials need on one core is
the floor any envelope design pays for its training (docs/benchmarks.md,
issue 14, eighth session).

    .venv/bin/python benchmarks/bench_own_floor.py --setting mlp --against SWEEP_DIR
    .venv/bin/python benchmarks/bench_own_floor.py --setting cnn --by model.channels
    .venv/bin/python benchmarks/bench_own_floor.py --checkout /work/wt-before  # "before"'s code
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from bench_structural import CONTINUOUS, SETTINGS, hpfw_sweep

SINGLE_THREADED = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def trial_seconds(sweep: Path) -> dict[tuple[str, ...], tuple[float, dict[str, str]]]:
    """``{config overrides: (train seconds, overrides by key)}`` of a finished sweep's trials."""
    out = {}
    for metrics in sweep.glob("*/metrics.json"):
        overrides = yaml.safe_load((metrics.parent / ".hydra" / "overrides.yaml").read_text())
        config = tuple(sorted(o for o in overrides if not o.startswith("trainer.envelope")))
        by_key = dict(o.split("=", 1) for o in config)
        out[config] = (json.loads(metrics.read_text())["train_seconds"], by_key)
    return out


def _order(value: str) -> tuple[int, float, str]:
    """Numbers by value, then anything else by name."""
    try:
        return 0, float(value), ""
    except ValueError:
        return 1, 0.0, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="mlp", choices=SETTINGS)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--core", type=int, default=1, help="the core to pin the sweep to")
    parser.add_argument("--checkout", help="run another hpfw checkout (its .venv) instead")
    parser.add_argument("--by", default="model.hidden_dim", help="the key to sum seconds by")
    parser.add_argument("--against", type=Path, help="a finished sweep of the same setting")
    parser.add_argument("--work", type=Path, help="where to keep the sweep (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="read --work's finished sweep again")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="own-floor-"))
    work.mkdir(parents=True, exist_ok=True)
    python = Path(args.checkout) / ".venv" / "bin" / "python" if args.checkout else sys.executable
    hpfw_args = hpfw_sweep([*SETTINGS[args.setting], *CONTINUOUS], args.trials)
    hpfw_args = [a for a in hpfw_args if a != "hydra/launcher=batched"] + ["hydra/launcher=basic"]
    if not args.checkout:  # "before" had no envelope; this code's is turned off by setting one
        hpfw_args.append("trainer.envelope.trials=1")
    sweep = work / "sweep"
    env = {
        **os.environ,
        "XLA_FLAGS": SINGLE_THREADED,
        "HPFW_CACHE_DIR": str(work / "cache"),  # cold compile cache
        "HPFW_DATA_CACHE_DIR": str(work / "data"),
    }
    env.pop("PYTHONPATH", None)  # another checkout imports its own hpfw
    cmd = ["taskset", "-c", str(args.core), str(python), *hpfw_args, f"hydra.sweep.dir={sweep}"]
    if not args.reuse:
        subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    own = trial_seconds(sweep)
    other = trial_seconds(args.against) if args.against else {}
    sums: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for config, (seconds, by_key) in own.items():
        row = sums[by_key.get(args.by, "-")]
        row[0] += seconds
        row[1] += other.get(config, (0.0,))[0]
        row[2] += 1
    print(f"{args.setting}: {len(own)} trials on their own programs, one core ({sweep})")
    for value, (mine, theirs, n) in sorted(sums.items(), key=lambda kv: _order(kv[0])):
        against = f", the other sweep {theirs:.2f} s ({theirs / mine:.2f}x)" if other else ""
        print(f"  {args.by}={value}: {n} trials, {mine:.2f} s{against}")
    total, total_other = sum(r[0] for r in sums.values()), sum(r[1] for r in sums.values())
    against = f", the other sweep {total_other:.2f} s ({total_other / total:.2f}x)" if other else ""
    print(f"  all: {total:.2f} s{against}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
