"""For the pruning and asynchronous-sweep benchmarks: run a sweep command, read its journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(args: Sequence[str], sweep_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs ``python <args> hydra.sweep.dir=<sweep_dir>``; returns wall seconds and the journal."""
    full_env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    full_env.update(env or {})
    command = [sys.executable, *args, f"hydra.sweep.dir={sweep_dir}"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    lines = (sweep_dir / "trials.jsonl").read_text().splitlines()
    latest: dict[int, dict[str, Any]] = {}
    for line in lines[1:]:
        record = json.loads(line)
        latest[record["id"]] = record
    return {"wall": wall, "header": json.loads(lines[0]), "records": list(latest.values())}


def epochs_trained(record: dict[str, Any], default: int) -> int:
    """Epochs a trial trained: its reported steps (hpfw's trainer reports every epoch)."""
    reported = record.get("intermediate")
    if reported:
        return max(step for step, _ in reported) - int(record["metrics"].get("start_epoch", 0) or 0)
    return default


def best(run_: dict[str, Any], maximize: bool) -> float | None:
    values = [
        r["value"] for r in run_["records"] if r["state"] == "complete" and r["value"] is not None
    ]
    if not values:
        return None
    return max(values) if maximize else min(values)


def states(run_: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for record in run_["records"]:
        found[record["state"]] = found.get(record["state"], 0) + 1
    return found
