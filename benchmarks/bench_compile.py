"""Compile time and run time of hpfw's training programs at two XLA backend optimisation levels.

For each model family, the same lowered program is compiled at each level
(the order alternates between rounds, so warm-up effects hit every level alike)
and each compiled program runs the same trial, interleaved. Reports compile
seconds and median run time per level, and their ratios against XLA's default
(level 3). This is the measurement behind ``hpfw.trainer.device.CPU_COMPILER_OPTIONS``.

    python benchmarks/bench_compile.py [--levels 3,2] [--rounds 2] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax

from hpfw.data import load_dataset
from hpfw.trainer.compiled import device_arrays
from hpfw.trainer.spec import as_hparams, hparams_from_config, static_spec
from hpfw.trainer.trainer import make_train_fn

sys.path.insert(0, str(Path(__file__).parent))
from bench_trainer import compose_config

# (label, overrides): the classifier families at their defaults, and the LM task.
PROGRAMS = (
    ("mlp", ["model=mlp"]),
    ("cnn", ["model=cnn", "trainer.epochs=5"]),
    ("transformer", ["model=transformer", "trainer.epochs=5"]),
    ("lm decoder", ["task=lm", "trainer.epochs=2"]),
)


def measure(overrides: Sequence[str], levels: Sequence[int], rounds: int, runs: int) -> dict:
    cfg = compose_config([*overrides, "trainer.compilation_cache_dir=null"])
    dataset = load_dataset(cfg.data, context_length=cfg.model.get("context_length"))
    spec = static_spec(cfg, dataset)
    device = jax.devices()[0]
    data = device_arrays(dataset, device)
    hparams = as_hparams(hparams_from_config(cfg))
    key = jax.random.key(0)
    lowered = jax.jit(make_train_fn(spec)).lower(hparams, key, data)
    compile_s: dict[int, list[float]] = {level: [] for level in levels}
    programs: dict[int, Any] = {}
    for r in range(rounds):
        for level in levels if r % 2 == 0 else reversed(levels):
            # A new compile each time: JAX keys its in-memory cache by the options,
            # so vary a no-op option by round to defeat it.
            options = {
                "xla_backend_optimization_level": level,
                "xla_cpu_parallel_codegen_split_count": 32 - r,
            }
            start = time.perf_counter()
            programs[level] = lowered.compile(options)
            compile_s[level].append(time.perf_counter() - start)
    run_s: dict[int, list[float]] = {level: [] for level in levels}
    accuracy: dict[int, float] = {}
    for level in levels:
        jax.block_until_ready(programs[level](hparams, key, data))  # warm
    for _ in range(runs):
        for level in levels:
            start = time.perf_counter()
            out = jax.block_until_ready(programs[level](hparams, key, data))
            run_s[level].append(time.perf_counter() - start)
            accuracy[level] = float(out["val_accuracy"][-1])
    return {
        level: {
            "compile_s": statistics.median(compile_s[level]),
            "run_s": statistics.median(run_s[level]),
            "val_accuracy": accuracy[level],
        }
        for level in levels
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="3,2", help="the first is the reference")
    parser.add_argument("--rounds", type=int, default=2, help="compiles per level (median)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per level (median)")
    args = parser.parse_args(argv)
    levels = [int(v) for v in args.levels.split(",")]
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}); reference level {levels[0]}")
    print(f"{'program':>12} {'level':>5} {'compile s':>9} {'run ms':>8} {'compile':>8} {'run':>6}")
    for label, overrides in PROGRAMS:
        rows = measure(overrides, levels, args.rounds, args.runs)
        ref = rows[levels[0]]
        for level in levels:
            row = rows[level]
            compile_ratio, run_ratio = (row[k] / ref[k] for k in ("compile_s", "run_s"))
            print(
                f"{label:>12} {level:>5} {row['compile_s']:>9.2f} {1e3 * row['run_s']:>8.0f}"
                f" {compile_ratio:>7.2f}x {run_ratio:>5.2f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
