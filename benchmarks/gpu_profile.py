"""Where a vmapped group's time goes on an accelerator: kernels, the memory floor, variants.

For hpfw's default task (the digits MLP, 20 epochs) run as vmapped groups:

- the device's copy bandwidth and the memory floor of a step (every weight
  and optimiser moment read and written as often as a step must);
- the host's share of a group's wall time (configs, stacking, summaries);
- a profile of one group (``jax.profiler``): the kernels per step, how busy
  the stream is, and the kernels (XLA's fusions) that take the time;
- variants that each change one thing (no dropout, sgd, narrower, shallower,
  larger batches) and wider groups, timed the same way;
- single-architecture groups (the points the accelerator's cost constants are
  fitted to: ``hpfw.trainer.device_costs``), and the mixed-architecture group.

    python benchmarks/gpu_profile.py --out DIR              # on a machine with a GPU
    python benchmarks/gpu_profile.py --out DIR --trials 8 --epochs 1 --sections default,profile

Each section prints a table; everything is written to ``DIR/gpu_profile.json``
and the profile to ``DIR/perfetto_trace.json.gz``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shutil
import statistics
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from bench_groups import cold_and_warm, configs

from hpfw.models.costs import param_count
from hpfw.trainer import groups
from hpfw.trainer.groups import train_many

# Passes over the weights a step must make at least: forward, backward (the
# input's gradient), the weights' gradient written, then the optimiser's update
# (reads weights, gradient and its moments, writes weights and moments).
PASSES = {"adam": 3 + 7, "adamw": 3 + 7, "sgd": 3 + 5}


def copy_bandwidth(device: jax.Device, mib: int = 1024, reps: int = 10) -> float:
    """Bytes per second of an elementwise pass (bytes read plus bytes written)."""
    x = jax.device_put(jnp.ones((mib * 2**18,), jnp.float32), device)
    step = jax.jit(lambda v: v * 1.0001 + 1.0)
    jax.block_until_ready(step(x))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(step(x))
        times.append(time.perf_counter() - start)
    return 2 * x.nbytes / statistics.median(times)


def time_group(n: int, epochs: int, overrides: Sequence[str], mixed: bool = False) -> dict:
    """Compile, then time one warm call of ``train_many``: wall, device and host seconds."""
    first, results, cold, wall = cold_and_warm(configs(n, epochs, overrides, mixed), "vmap")
    device = sum(r["train_seconds"] for r in results)
    return {
        "trials": n,
        "overrides": list(overrides),
        "first_call_s": round(cold, 3),
        "compile_s": round(sum(r["compile_seconds"] for r in first), 3),
        "wall_s": round(wall, 4),
        "device_s": round(device, 4),
        "host_s": round(wall - device, 4),
        "trials_per_minute": round(60 * n / wall, 1),
        "device_trials_per_minute": round(60 * n / device, 1),
        "steps": int(results[0]["steps"]),
        "programs": sorted({r["program"] for r in results}),
        "best_val_accuracy": max(r["val_accuracy"] for r in results),
        "mean_val_accuracy": statistics.fmean(r["val_accuracy"] for r in results),
    }


def _events(trace: Path) -> tuple[dict[int, str], list[dict]]:
    with gzip.open(trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    names = {e["pid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}  # fmt: skip
    return names, [e for e in events if e.get("ph") == "X" and "dur" in e]


def summarize_trace(trace: Path, steps: int) -> dict[str, Any]:
    """Kernels per step, the busy share of the GPU's stream, and the top kernels."""
    names, events = _events(trace)
    device_pids = {p for p, n in names.items() if "/device:" in n and "CPU" not in n.upper()}
    kernels = [e for e in events if e["pid"] in device_pids]
    if not kernels:
        return {"processes": names, "note": "no device events in the trace"}
    # Stream rows hold the kernels; a device's other rows repeat them by op or module.
    by_tid: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for e in kernels:
        by_tid[(e["pid"], e["tid"])].append(e)
    stream = max(by_tid.values(), key=len)
    begin = min(e["ts"] for e in stream)
    end = max(e["ts"] + e["dur"] for e in stream)
    busy = sum(e["dur"] for e in stream)
    # XLA's command buffers (CUDA graphs) leave no JAX op names on the kernels: by name.
    by_name: dict[str, list[float]] = defaultdict(list)
    for e in stream:
        by_name[e["name"]].append(e["dur"])

    def top(table: dict[str, list[float]], k: int) -> list[dict]:
        rows = sorted(table.items(), key=lambda kv: -sum(kv[1]))[:k]
        return [{"name": n[:120], "count": len(d), "us": round(sum(d), 1),
                 "share": round(sum(d) / busy, 4)} for n, d in rows]  # fmt: skip

    samples = sorted(stream, key=lambda e: -e["dur"])[:5]
    return {
        "rows": {f"{names.get(p, p)}:{t}": len(v) for (p, t), v in by_tid.items()},
        "kernels": len(stream),
        "kernels_per_step": round(len(stream) / steps, 1),
        "span_us": round(end - begin, 1),
        "busy_us": round(busy, 1),
        "busy_share": round(busy / (end - begin), 4),
        "mean_kernel_us": round(busy / len(stream), 2),
        "top_kernels": top(by_name, 25),
        "sample_args": [e.get("args", {}) for e in samples],
    }


def profile_group(n: int, epochs: int, out: Path) -> dict[str, Any]:
    """One warm group under ``jax.profiler``; the trace is copied to ``out``."""
    cfgs = configs(n, epochs, [])
    train_many(cfgs, mode="vmap")  # compile outside the trace
    log_dir = out / "profile"
    # No Python tracing: a 1024-trial group's Python events made the trace too big to
    # parse quickly (103 s on the H200's host) or bring back (over 16 MiB).
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0
    options.host_tracer_level = 1
    with jax.profiler.trace(str(log_dir), create_perfetto_trace=True, profiler_options=options):
        results = train_many(cfgs, mode="vmap")
    trace = next(log_dir.rglob("perfetto_trace.json.gz"))
    shutil.copy(trace, out / "perfetto_trace.json.gz")
    steps = int(results[0]["steps"])
    summary = summarize_trace(trace, steps)
    shutil.rmtree(log_dir, ignore_errors=True)
    return {"trials": n, "epochs": epochs, "steps": steps, **summary}


def memory_floor(n: int, bandwidth: float, steps: int, optimizer: str, hidden: int,
                 layers: int) -> dict[str, float]:  # fmt: skip
    """Seconds a group must take to move its weights' bytes as often as its steps must."""
    weights = param_count(
        {"name": "mlp"}, {"hidden_dim": hidden, "num_layers": layers}, (8, 8, 1), 10
    )
    step_bytes = n * weights * 4 * PASSES[optimizer]
    seconds = steps * step_bytes / bandwidth
    return {
        "weights_per_trial": weights,
        "bytes_per_step": step_bytes,
        "floor_s": seconds,
        "floor_trials_per_minute": 60 * n / seconds,
    }


BRIEF = (
    "wall_s",
    "device_s",
    "host_s",
    "trials_per_minute",
    "compile_s",
    "steps",
    "programs",
    "best_val_accuracy",
    "bytes_per_second",
    "floor_s",
    "floor_trials_per_minute",
    "kernels_per_step",
    "busy_share",
    "mean_kernel_us",
    "span_us",
    "error",
)


def guarded(name: str, results: dict[str, Any], out: Path, fn: Callable[[], Any]) -> None:
    """Runs one section; a failure is recorded and the next section still runs."""
    start = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as error:  # one section must not lose the others
        traceback.print_exc()
        results[name] = {"error": f"{type(error).__name__}: {error}"}
    row = results[name]
    brief = {k: row[k] for k in BRIEF if k in row} if isinstance(row, dict) else row
    print(f"== {name} ({time.perf_counter() - start:.1f} s): {brief}", flush=True)
    (out / "gpu_profile.json").write_text(json.dumps(results, indent=1, default=str))


SECTIONS = ("bandwidth", "default", "mixed", "profile", "variants", "wide", "fit")
VARIANTS = {
    "no dropout": ["regularization.dropout=0"],
    "sgd": ["optimizer=sgd"],
    "hidden 128": ["model.hidden_dim=128"],
    "batch 128": ["trainer.batch_size=128"],
    "1 layer": ["model.num_layers=1"],
}
# Single-architecture groups for the accelerator's cost fit: (hidden, layers, batch).
FIT_POINTS = [(64, 1, 32), (512, 4, 32), (512, 4, 128), (256, 2, 64)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--trials", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--profile-epochs", type=int, default=2)
    parser.add_argument("--wide", default="2048,4096", help="group widths beyond 1024")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="which to run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = jax.devices()[0]
    n, epochs, chosen = args.trials, args.epochs, args.sections.split(",")
    results: dict[str, Any] = {"device": f"{device.platform} ({device.device_kind})",
                               "jax": jax.__version__}  # fmt: skip
    print(results, flush=True)
    if "bandwidth" in chosen:
        guarded("bandwidth", results, out, lambda: {"bytes_per_second": copy_bandwidth(device)})
    if "default" in chosen:
        guarded("default", results, out, lambda: time_group(n, epochs, []))
    if "bandwidth" in chosen and "default" in chosen:
        bandwidth = results["bandwidth"].get("bytes_per_second", math.nan)
        steps = results["default"].get("steps", 0)
        guarded("floor", results, out,
                lambda: memory_floor(n, bandwidth, steps, "adam", 256, 2))  # fmt: skip
    if "mixed" in chosen:
        guarded("mixed", results, out, lambda: time_group(n, 20, [], mixed=True))
    if "profile" in chosen:
        guarded("profile", results, out, lambda: profile_group(n, args.profile_epochs, out))
    if "variants" in chosen:
        for name, overrides in VARIANTS.items():
            guarded(f"variant {name}", results, out,
                    lambda o=overrides: time_group(n, epochs, o))  # fmt: skip
    if "wide" in chosen:
        for width in [int(w) for w in args.wide.split(",") if w]:
            groups.MAX_GROUP = max(groups.MAX_GROUP, width)
            guarded(f"width {width}", results, out, lambda w=width: time_group(w, epochs, []))
        groups.MAX_GROUP = 1024
    if "fit" in chosen:
        for hidden, layers, batch in FIT_POINTS:
            overrides = [f"model.hidden_dim={hidden}", f"model.num_layers={layers}",
                         f"trainer.batch_size={batch}", "optimizer=adamw"]  # fmt: skip
            guarded(f"fit h{hidden} l{layers} b{batch}", results, out,
                    lambda o=overrides: time_group(n, 10, o))  # fmt: skip
    print(f"{'section':<24} {'wall s':>8} {'device s':>9} {'host s':>7} {'trials/min':>11}")
    for name, row in results.items():
        if isinstance(row, dict) and "wall_s" in row:
            print(f"{name:<24} {row['wall_s']:>8.3f} {row['device_s']:>9.3f} "
                  f"{row['host_s']:>7.3f} {row['trials_per_minute']:>11.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
