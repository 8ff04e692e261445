"""Trials per second of hpfw's default task for vmapped groups of trials, and FLOP/s.

Each group of N trials (different learning rates, dropout rates and seeds) runs
as one vmapped program through ``hpfw.trainer.groups.train_many``; the sequential figure
is the same trials on the cached single-trial program (on a CPU, one per core
side by side in threads, as the batched launcher runs them). The
float32 matmul peak is measured in the same run on the same device.

With ``--mixed`` every trial also draws its architecture and training
structure (hidden units 64-512, 1-4 layers, batch size 32/64/128, 10/20/30
epochs, sgd/adam/adamw) inside one envelope, as hpfw's sweeper passes it, so a
group spans architectures (docs/structural.md); ``--epochs`` is then unused.

    python benchmarks/bench_groups.py                         # CPU: groups 1, 8, 32, 128
    python benchmarks/bench_groups.py --sizes 1,64,1024 --epochs 20 --json out.json
    python benchmarks/bench_groups.py --mixed --sizes 1024    # mixed architectures
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hpfw.config import config_dir, register_configs
from hpfw.trainer.groups import train_many

# The matmul peak is measured the same way as in the trainer benchmark beside this file.
sys.path.insert(0, str(Path(__file__).parent))
from bench_trainer import matmul_peak

MIXED = {
    "model.hidden_dim": (64, 128, 256, 512),
    "model.num_layers": (1, 2, 3, 4),
    "trainer.batch_size": (32, 64, 128),
    "trainer.epochs": (10, 20, 30),
    "optimizer": ("sgd", "adam", "adamw"),
}


ENVELOPE = (
    "trainer.envelope={hidden_dim:[64,128,256,512],num_layers:[1,2,3,4],"
    "batch_size:[32,64,128],epochs:[10,20,30],optimizer:[sgd,adam,adamw],trials:%d}"
)


def configs(n: int, epochs: int, overrides: Sequence[str], structural: bool = False) -> list[Any]:
    """``n`` trials of the default task with their own lr, dropout and seed (and structure).

    Each distinct set of config-group choices is composed once; a trial is a
    copy with its values set (Hydra's compose takes ~0.1 s a config here, a
    copy ~4 ms). ``overrides`` are applied to every trial and win over its values.
    """
    register_configs()
    rng = np.random.default_rng(n)
    fixed = {o.split("=", 1)[0] for o in overrides}
    bases: dict[tuple[str, ...], Any] = {}
    out = []
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        for i in range(n):
            values: dict[str, Any] = {
                "trainer.epochs": epochs,
                "trainer.compilation_cache_dir": None,
                "optimizer.lr": float(f"{10 ** rng.uniform(-3.5, -1.5):.6g}"),
                "regularization.dropout": float(f"{rng.uniform(0, 0.4):.4f}"),
                "trainer.seed": i,
            }
            choices: tuple[str, ...] = ()
            if structural:  # one trial's structure drawn from MIXED, in the envelope of all
                drawn = {key: options[rng.integers(len(options))] for key, options in MIXED.items()}
                choices = (f"optimizer={drawn.pop('optimizer')}", ENVELOPE % n)
                values.update({key: int(v) for key, v in drawn.items()})
            if choices not in bases:
                bases[choices] = compose("config", overrides=[*choices, *overrides])
            cfg = copy.deepcopy(bases[choices])
            for key, value in values.items():
                if key not in fixed:
                    OmegaConf.update(cfg, key, value)
            out.append(cfg)
    return out


def cold_and_warm(cfgs: Sequence[Any], mode: str) -> tuple[list, list, float, float]:
    """``train_many`` twice: the first call compiles; the results and seconds of each."""
    start = time.perf_counter()
    first = train_many(cfgs, mode=mode)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    results = train_many(cfgs, mode=mode)
    warm = time.perf_counter() - start
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise failed[0]
    return first, results, cold, warm


def measure(
    n: int, epochs: int, mode: str, overrides: Sequence[str], structural: bool = False
) -> dict[str, Any]:
    first, results, cold, warm = cold_and_warm(configs(n, epochs, overrides, structural), mode)
    flops = sum(r["flops"] for r in results)
    return {
        "trials": n,
        "mode": mode,
        "first_call_s": cold,
        "seconds": warm,
        "trials_per_second": n / warm,
        "trials_per_minute": 60 * n / warm,
        "flops_per_second": flops / warm,
        "best_val_accuracy": max(r["val_accuracy"] for r in results),
        "compile_s": sum(r["compile_seconds"] for r in first),
        "programs": len({r["program"] for r in results}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8,32,128")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--sequential", action="store_true", help="also time one-by-one runs")
    parser.add_argument("--mixed", action="store_true", help="mixed architectures (envelope)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every trial")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"device: {device.platform} ({device.device_kind}); epochs: {args.epochs}", flush=True)
    peak = matmul_peak(device, (1024, 2048, 4096) if device.platform != "cpu" else (1024, 2048), 5)
    print(f"float32 matmul peak: {peak['flops_per_second'] / 1e9:.1f} GFLOP/s", flush=True)
    rows = []
    modes = ["vmap", "sequential"] if args.sequential else ["vmap"]
    print(
        f"{'trials':>7} {'mode':>10} {'s':>8} {'trials/s':>9} {'trials/min':>11} "
        f"{'GFLOP/s':>9} {'% peak':>7} {'best val':>8}"
    )
    for n in sizes:
        for mode in modes:
            if mode == "sequential" and n > 32:
                continue  # one by one is linear: larger groups add no information
            row = measure(n, args.epochs, mode, args.overrides, args.mixed)
            row["percent_of_peak"] = 100 * row["flops_per_second"] / peak["flops_per_second"]
            rows.append(row)
            print(
                f"{n:>7} {mode:>10} {row['seconds']:>8.2f} {row['trials_per_second']:>9.2f} "
                f"{row['trials_per_minute']:>11.0f} {row['flops_per_second'] / 1e9:>9.1f} "
                f"{row['percent_of_peak']:>6.1f}% {row['best_val_accuracy']:>8.4f}"
                f"  programs {row['programs']}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "peak": peak, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
