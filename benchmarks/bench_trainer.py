"""Benchmark hpfw's compiled trainer against a per-step ``nnx.jit`` loop, side by side in one run.

Measures, for one composed config (default: MLP on digits, 20 epochs):

1. the compile time of hpfw's training program (persistent cache off, so it is a
   real compile), as the cold first trial sees it and as ``compiled_program``
   reports it, plus a separate trace+lower / XLA-compile split;
2. the time per trial once compiled: ``train_and_evaluate`` wall time (all the
   Python around it included) and the pure program time (``train_seconds``);
3. achieved FLOP/s: XLA's cost-analysis FLOPs per trial (checked against an
   analytic matmul count for MLPs) over the pure program time, against a
   float32 ``jnp.dot`` peak measured in the same process on the same device;
4. a baseline in the shape of the Flax NNX MNIST example: ``nnx.Optimizer``,
   ``@nnx.jit`` train and eval steps, a Python loop over epochs and batches with
   numpy shuffling, the same model, optimiser, batch size, epochs and data;
5. the ratios against the targets (baseline/hpfw per trial >= 15x, achieved
   FLOP/s >= 35% of the matmul peak).

Usage::

    .venv/bin/python benchmarks/bench_trainer.py [--trials N] [--epochs 20]
        [--json PATH] [hydra overrides...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from hpfw import train
from hpfw.config import register_configs
from hpfw.data import Dataset, load_dataset
from hpfw.models import build_model
from hpfw.optim import build_optimizer, learning_rate_schedule
from hpfw.run import train_and_evaluate

SPEEDUP_TARGET = 15.0  # baseline per-trial time / hpfw per-trial time
PEAK_FRACTION_TARGET = 0.35  # hpfw achieved FLOP/s / float32 matmul peak
# Learning-rate multipliers for the timed trials (around the configured lr).
LR_FACTORS = (1.0, 0.5, 1.5, 0.75, 1.25, 0.6, 1.1, 0.9, 1.3, 0.8)


# --- config -------------------------------------------------------------------


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """Composes hpfw's config with ``overrides``, as the ``hpfw`` command would."""
    register_configs()
    with initialize_config_module("hpfw.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def trial_overrides(base: Sequence[str], cfg: DictConfig, index: int) -> list[str]:
    """Overrides for timed trial ``index``: its own learning rate and seed."""
    lr = float(cfg.optimizer.lr) * LR_FACTORS[index % len(LR_FACTORS)]
    return [*base, f"optimizer.lr={lr:.6g}", f"trainer.seed={index + 1}"]


# --- float32 matmul peak ------------------------------------------------------


def matmul_peak(device: jax.Device, sizes: Sequence[int], reps: int) -> dict[str, Any]:
    """Best float32 ``jnp.dot`` FLOP/s over ``sizes`` (best of ``reps`` runs each)."""
    dot = jax.jit(jnp.dot)
    per_size: dict[str, float] = {}
    for n in sizes:
        key_a, key_b = jax.random.split(jax.random.key(n))
        a = jax.device_put(jax.random.normal(key_a, (n, n), jnp.float32), device)
        b = jax.device_put(jax.random.normal(key_b, (n, n), jnp.float32), device)
        jax.block_until_ready(dot(a, b))  # compile and warm up
        best = math.inf
        for _ in range(reps):
            start = time.perf_counter()
            jax.block_until_ready(dot(a, b))
            best = min(best, time.perf_counter() - start)
        per_size[str(n)] = 2.0 * n**3 / best
    return {"flops_per_second": max(per_size.values()), "by_size": per_size}


# --- analytic FLOPs -----------------------------------------------------------


def analytic_mlp_flops(cfg: DictConfig, spec: train.StaticSpec) -> float | None:
    """Matmul FLOPs of one MLP trial: 3x forward per training step, plus every evaluation.

    Ignores elementwise work (activations, dropout, the optimiser update, the loss),
    so it is a slight undercount. None for models other than the MLP.
    """
    if str(getattr(cfg.model.name, "value", cfg.model.name)) != "mlp":
        return None
    dims = [math.prod(spec.input_shape)]
    dims += [int(cfg.model.hidden_dim)] * int(cfg.model.num_layers)
    dims += [spec.num_classes]
    per_sample = 2.0 * sum(a * b for a, b in itertools.pairwise(dims))
    _, n_val, n_test = spec.split_sizes
    train_flops = 3.0 * per_sample * spec.batch_size * spec.total_steps
    eval_flops = per_sample * (spec.epochs * n_val + n_test)
    return train_flops + eval_flops


# --- hpfw ---------------------------------------------------------------------


def lower_compile_split(spec: train.StaticSpec, data: train.DataArrays, device: jax.Device):
    """Trace+lower and XLA-compile seconds of one more fresh compile of the same program."""
    fn = train.make_train_fn(spec)
    hp = jax.device_put(train.as_hparams(dict.fromkeys(train.HPARAM_NAMES, 0.0)), device)
    key = jax.device_put(jax.random.key(0), device)
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(hp, key, data)
    lowered_at = time.perf_counter()
    lowered.compile()
    done = time.perf_counter()
    return lowered_at - start, done - lowered_at


def hpfw_trial(cfg: DictConfig) -> dict[str, float]:
    """One ``train_and_evaluate`` call: its wall time, program time and accuracy."""
    start = time.perf_counter()
    metrics = train_and_evaluate(cfg)
    wall = time.perf_counter() - start
    return {
        "wall_seconds": wall,
        "program_seconds": metrics["train_seconds"],
        "compile_seconds": metrics["compile_seconds"],
        "val_accuracy": metrics["val_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "flops": metrics["flops"],
    }


# --- the baseline: a per-step nnx.jit loop, as in the Flax NNX MNIST example ---


def _loss(logits: jax.Array, labels: jax.Array, smoothing: Any) -> jax.Array:
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean()


@nnx.jit
def train_step(
    model: nnx.Module,
    optimizer: nnx.Optimizer,
    batch: dict[str, jax.Array],
    dropout_rate: float,
    smoothing: float,
    dropout_key: jax.Array,
) -> jax.Array:
    """One minibatch step: loss, gradients, optimiser update (in place)."""
    key = jax.random.fold_in(dropout_key, optimizer.step.value)

    def loss_fn(model: nnx.Module) -> jax.Array:
        logits = model(batch["x"], dropout_rate=dropout_rate, key=key)
        return _loss(logits, batch["y"], smoothing)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def eval_step(model: nnx.Module, batch: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """Loss and accuracy of ``model`` on one batch (dropout off)."""
    logits = model(batch["x"], dropout_rate=0.0, key=None)
    return _loss(logits, batch["y"], 0.0), (jnp.argmax(logits, -1) == batch["y"]).mean()


def baseline_optimizer(cfg: DictConfig, total_steps: int) -> optax.GradientTransformation:
    """The same optimiser as hpfw builds, written as a user would with optax."""
    opt, wd = cfg.optimizer, float(cfg.regularization.weight_decay)
    name = str(opt.name)
    schedule = str(getattr(opt.schedule, "value", opt.schedule))
    if name == "adam" and opt.grad_clip_norm is None:
        lr = float(opt.lr)
        if schedule == "cosine":
            lr_fn = optax.cosine_decay_schedule(lr, total_steps)
        else:
            lr_fn = learning_rate_schedule(
                schedule, jnp.float32(lr), jnp.float32(opt.warmup_fraction), total_steps
            )
        adam = optax.adam(lr_fn, b1=float(opt.b1), b2=float(opt.b2), eps=float(opt.eps))
        return optax.chain(optax.add_decayed_weights(wd), adam)
    # Other families: hpfw's own builder with constant hyperparameters.
    return build_optimizer(
        name,
        train.as_hparams(train.hparams_from_config(cfg)),
        schedule=schedule,
        total_steps=total_steps,
        nesterov=bool(opt.get("nesterov", False)),
        clip=opt.grad_clip_norm is not None,
    )


def baseline_trial(cfg: DictConfig, dataset: Dataset, device: jax.Device) -> dict[str, float]:
    """One whole training run with the per-step loop; model and optimiser built afresh."""
    start = time.perf_counter()
    with jax.default_device(device):
        seed = int(cfg.trainer.seed)
        # The same initial weights and dropout stream root as hpfw's program.
        init_key, _, dropout_key = jax.random.split(jax.random.key(seed), 3)
        model = build_model(
            cfg.model,
            input_shape=dataset.feature_shape,
            num_classes=dataset.num_classes,
            rngs=nnx.Rngs(params=init_key),
        )
        batch_size, epochs = int(cfg.trainer.batch_size), int(cfg.trainer.epochs)
        n_train = len(dataset.y_train)
        steps = n_train // batch_size  # the last partial batch is dropped, as in hpfw
        optimizer = nnx.Optimizer(model, baseline_optimizer(cfg, epochs * steps), wrt=nnx.Param)
        dropout = float(cfg.regularization.dropout)
        smoothing = float(cfg.regularization.label_smoothing)
        rng = np.random.default_rng(seed)
        val = {"x": dataset.x_val, "y": dataset.y_val}
        history = []
        for _ in range(epochs):
            order = rng.permutation(n_train)
            losses = []
            for i in range(steps):
                idx = order[i * batch_size : (i + 1) * batch_size]
                batch = {"x": dataset.x_train[idx], "y": dataset.y_train[idx]}
                losses.append(train_step(model, optimizer, batch, dropout, smoothing, dropout_key))
            val_loss, val_acc = eval_step(model, val)
            history.append(
                {
                    "train_loss": float(jnp.mean(jnp.stack(losses))),
                    "val_loss": float(val_loss),
                    "val_accuracy": float(val_acc),
                }
            )
        _, test_acc = eval_step(model, {"x": dataset.x_test, "y": dataset.y_test})
        test_acc = float(test_acc)
    return {
        "wall_seconds": time.perf_counter() - start,
        "val_accuracy": history[-1]["val_accuracy"],
        "test_accuracy": test_acc,
    }


# --- reporting ----------------------------------------------------------------


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1.0 else f"{seconds:.2f} s"


def _fmt_flops(flops: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if flops >= scale:
            return f"{flops / scale:.2f} {unit}"
    return f"{flops:.0f} "


def render(r: dict[str, Any]) -> str:
    h, b = r["hpfw"], r["baseline"]
    peak, sps_k = r["peak"]["flops_per_second"], "steps_per_second"
    achieved = h["flops_per_second"]
    acc, sps = "final val accuracy", "steps per second"
    rows = [
        ("compile: cold first trial (train_and_evaluate wall)", _fmt_s(h["first_trial_wall"]), ""),
        ("compile: AOT, as compiled_program reports it", _fmt_s(h["compile_seconds"]), ""),
        ("compile: trace+lower / XLA compile (separate)", h["lower_compile_split"], ""),
        ("first trial incl. compile (wall)", _fmt_s(h["first_trial_wall"]), _fmt_s(b["first"])),
        ("per trial after compile, median (wall)", _fmt_s(h["median_wall"]), _fmt_s(b["median"])),
        ("per trial after compile, min (wall)", _fmt_s(h["min_wall"]), _fmt_s(b["min"])),
        ("per trial, pure program (train_seconds), median", _fmt_s(h["median_program"]), "-"),
        (f"{sps} (hpfw: program; loop: wall)", f"{h[sps_k]:.0f}", f"{b[sps_k]:.0f}"),
        (f"{acc}, mean over trials", f"{h['val_accuracy']:.4f}", f"{b['val_accuracy']:.4f}"),
        (f"{acc}, min over trials", f"{h['val_accuracy_min']:.4f}", f"{b['val_accuracy_min']:.4f}"),
        ("FLOPs per trial, XLA cost analysis", _fmt_flops(h["flops_xla"]) + "FLOP", ""),
        ("FLOPs per trial, analytic matmuls", _fmt_flops(h["flops_analytic"] or 0) + "FLOP", ""),
        ("achieved FLOP/s (XLA FLOPs / program time)", _fmt_flops(achieved) + "FLOP/s", ""),
        ("float32 matmul peak (jnp.dot, best size)", _fmt_flops(peak) + "FLOP/s", ""),
    ]  # fmt: skip
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"device: {r['device']}   config: {' '.join(r['overrides']) or '(defaults)'}",
        f"steps per trial: {r['total_steps']} ({r['epochs']} epochs x {r['steps_per_epoch']}, "
        f"batch {r['batch_size']}); timed trials: {r['trials']}",
        "",
        f"{'':<{width}}  {'hpfw':>14}  {'nnx.jit loop':>14}",
    ]
    lines += [f"{name:<{width}}  {hv:>14}  {bv:>14}" for name, hv, bv in rows]
    peak_sizes = ", ".join(f"{n}: {_fmt_flops(v)}FLOP/s" for n, v in r["peak"]["by_size"].items())
    lines += ["", f"matmul peak by size: {peak_sizes}", ""]
    for ratio in r["ratios"].values():
        verdict = "MET" if ratio["met"] else "NOT MET"
        lines.append(
            f"{ratio['label']}: {ratio['display']} (target >= {ratio['target_display']}) {verdict}"
        )
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------


def run(trials: int, epochs: int, overrides: Sequence[str]) -> dict[str, Any]:
    device = jax.devices()[0]
    # Persistent cache off (last, so it wins) so the first compile is a real one.
    base = [*overrides, f"trainer.epochs={epochs}", "trainer.compilation_cache_dir=null"]
    cfg = compose_config(base)
    configs = [compose_config(trial_overrides(base, cfg, i)) for i in range(trials)]
    dataset = load_dataset(cfg.data)
    spec = train.static_spec(cfg, dataset)

    on_cpu = device.platform == "cpu"
    peak = matmul_peak(device, (512, 1024, 2048) if on_cpu else (2048, 4096, 8192), 5)

    # hpfw: the cold first trial compiles; then the timed trials reuse the program.
    compiles_before = train.compile_count
    first = hpfw_trial(cfg)
    assert train.compile_count == compiles_before + 1, "the first trial should compile once"
    data = train.device_arrays(dataset, device)
    lower_s, xla_s = lower_compile_split(spec, data, device)

    # Baseline: its first trial compiles its step functions.
    base_first = baseline_trial(cfg, dataset, device)

    # Timed trials, interleaved so machine noise hits both sides alike.
    h_runs, b_runs = [], []
    for trial_cfg in configs:
        h_runs.append(hpfw_trial(trial_cfg))
        b_runs.append(baseline_trial(trial_cfg, dataset, device))
    assert train.compile_count == compiles_before + 1, "timed trials must not recompile"

    median = statistics.median
    h_wall = [t["wall_seconds"] for t in h_runs]
    h_prog = [t["program_seconds"] for t in h_runs]
    b_wall = [t["wall_seconds"] for t in b_runs]
    flops_xla = first["flops"]
    flops_analytic = analytic_mlp_flops(cfg, spec)
    achieved = flops_xla / median(h_prog)
    speedup = median(b_wall) / median(h_wall)
    fraction = achieved / peak["flops_per_second"]
    steps = spec.total_steps
    result: dict[str, Any] = {
        "device": f"{device.platform}:{device.id} ({device.device_kind})",
        "host": platform.node(),
        "jax": jax.__version__,
        "overrides": list(overrides),
        "trials": trials,
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "steps_per_epoch": spec.steps_per_epoch,
        "total_steps": steps,
        "peak": peak,
        "hpfw": {
            "first_trial_wall": first["wall_seconds"],
            "compile_seconds": first["compile_seconds"],
            "lower_seconds": lower_s,
            "xla_compile_seconds": xla_s,
            "lower_compile_split": f"{lower_s:.2f}+{xla_s:.2f} s",
            "median_wall": median(h_wall),
            "min_wall": min(h_wall),
            "median_program": median(h_prog),
            "wall_seconds": h_wall,
            "program_seconds": h_prog,
            "steps_per_second": steps / median(h_prog),
            "val_accuracy": statistics.fmean(t["val_accuracy"] for t in h_runs),
            "val_accuracy_min": min(t["val_accuracy"] for t in h_runs),
            "test_accuracy": statistics.fmean(t["test_accuracy"] for t in h_runs),
            "flops_xla": flops_xla,
            "flops_analytic": flops_analytic,
            "flops_xla_over_analytic": flops_xla / flops_analytic if flops_analytic else None,
            "flops_per_second": achieved,
        },
        "baseline": {
            "first": base_first["wall_seconds"],
            "median": median(b_wall),
            "min": min(b_wall),
            "wall_seconds": b_wall,
            "steps_per_second": steps / median(b_wall),
            "val_accuracy": statistics.fmean(t["val_accuracy"] for t in b_runs),
            "val_accuracy_min": min(t["val_accuracy"] for t in b_runs),
            "test_accuracy": statistics.fmean(t["test_accuracy"] for t in b_runs),
        },
        "ratios": {
            "speedup": {
                "label": "speed-up, baseline / hpfw per trial (median wall)",
                "value": speedup,
                "display": f"{speedup:.1f}x",
                "target": SPEEDUP_TARGET,
                "target_display": f"{SPEEDUP_TARGET:g}x",
                "met": speedup >= SPEEDUP_TARGET,
            },
            "peak_fraction": {
                "label": "hpfw achieved FLOP/s / float32 matmul peak",
                "value": fraction,
                "display": f"{fraction:.1%}",
                "target": PEAK_FRACTION_TARGET,
                "target_display": f"{PEAK_FRACTION_TARGET:.0%}",
                "met": fraction >= PEAK_FRACTION_TARGET,
            },
        },
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="timed trials per side")
    parser.add_argument("--epochs", type=int, default=20, help="trainer.epochs")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.hidden_dim=512")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    result = run(args.trials, args.epochs, args.overrides)
    print(render(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
