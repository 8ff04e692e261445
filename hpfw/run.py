"""One training run: validate the config, train with the compiled trainer, report metrics."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from hpfw import device as devices
from hpfw import train
from hpfw.data import load_dataset
from hpfw.models import validate_model
from hpfw.validate import validate_against_data, validate_config

log = logging.getLogger("hpfw")
# JAX logs at INFO that it found no TPU library on every CPU-only start: noise.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def _finite_or_none(value: float) -> float | None:
    # JSON has no NaN; a diverged run's metrics are written as null.
    return value if math.isfinite(value) else None


@dataclass
class PreparedRun:
    """A validated config, ready to train: its static signature, inputs and device."""

    cfg: Any
    spec: train.StaticSpec
    device: jax.Device
    data: train.DataArrays
    hparams: dict[str, float]
    seed: int


def prepare(cfg: Any) -> PreparedRun:
    """Validates ``cfg`` and loads what it trains on; ``ConfigError``/``DataError`` if bad."""
    validate_config(cfg)
    dataset = load_dataset(cfg.data, context_length=cfg.model.get("context_length"))
    validate_against_data(cfg, len(dataset.y_train))
    validate_model(cfg.model, dataset.feature_shape)
    device = devices.select_device(str(_plain(cfg.trainer.device)))
    devices.enable_compilation_cache(cfg.trainer.compilation_cache_dir)
    return PreparedRun(
        cfg=cfg,
        spec=train.static_spec(cfg, dataset),
        device=device,
        data=train.device_arrays(dataset, device),
        hparams=train.hparams_from_config(cfg),
        seed=int(cfg.trainer.seed),
    )


def summarize(
    run: PreparedRun,
    out: dict[str, Any],
    *,
    seconds: float,
    compile_seconds: float,
    flops: float,
) -> dict[str, Any]:
    """Every metric of one trained trial, from the program's (host) outputs."""
    diverged = bool(out["diverged"])
    steps = run.spec.total_steps
    metrics: dict[str, Any] = {
        "status": "diverged" if diverged else "complete",
        "device": devices.describe(run.device),
        "epochs": {
            "train_loss": [_finite_or_none(float(v)) for v in out["train_loss"]],
            "val_loss": [_finite_or_none(float(v)) for v in out["val_loss"]],
            "val_accuracy": [_finite_or_none(float(v)) for v in out["val_accuracy"]],
        },
        "val_loss": float(out["val_loss"][-1]),
        "val_accuracy": float(out["val_accuracy"][-1]),
        "test_loss": float(out["test_loss"]),
        "test_accuracy": float(out["test_accuracy"]),
        "compile_seconds": compile_seconds,
        "train_seconds": seconds,
        "steps": steps,
        "steps_per_second": steps / seconds if seconds > 0 else 0.0,
        "flops": flops,
        "flops_per_second": flops / seconds if seconds > 0 else 0.0,
    }
    if diverged:
        metrics["diverged_epoch"] = int(out["diverged_epoch"])
    return metrics


def train_and_evaluate(cfg: Any, return_state: bool = False) -> Any:
    """Trains the configured model once and returns every metric of the run.

    Raises ``ConfigError``/``DataError`` for bad input before any training.
    ``return_state=True`` returns ``(metrics, state)`` with the trained state.
    """
    run = prepare(cfg)
    compiles_before = train.compile_count
    ckpt_dir = cfg.trainer.get("checkpoint_dir")
    with_state = return_state or ckpt_dir is not None
    program = train.compiled_program(run.spec, run.data, run.device, with_state=with_state)
    compiled_now = train.compile_count > compiles_before

    hparams = jax.device_put(train.as_hparams(run.hparams), run.device)
    key = jax.device_put(jax.random.key(run.seed), run.device)
    start = time.perf_counter()
    out = jax.block_until_ready(program.run(hparams, key, run.data))
    seconds = time.perf_counter() - start
    out = dict(out)
    state = out.pop("state", None)
    metrics = summarize(
        run,
        jax.tree.map(np.asarray, out),
        seconds=seconds,
        compile_seconds=program.compile_seconds if compiled_now else 0.0,
        flops=program.flops,
    )
    if ckpt_dir is not None and metrics["status"] == "complete":
        from hpfw import checkpoint
        from hydra.utils import to_absolute_path

        checkpoint.save(
            to_absolute_path(str(ckpt_dir)), state, {"epoch": int(cfg.trainer.epochs)}
        )
    return (metrics, state) if return_state else metrics


def task(cfg: Any, output_dir: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """The task function behind ``hpfw``: trains, writes ``metrics.json``, returns metrics.

    Returns a flat mapping of numbers; ``objective`` is the configured
    validation metric (NaN when the run diverged), the other keys are there for
    sweepers and reports. The test metrics are reported, never selected on.
    ``task=lm`` runs ``hpfw.lm.task`` instead.
    """
    if is_lm(cfg):
        from hpfw.lm.task import lm_task

        return lm_task(cfg, output_dir)
    return report(cfg, train_and_evaluate(cfg), output_dir)


def is_lm(cfg: Any) -> bool:
    """Whether ``cfg`` is a language-model run (``task=lm``)."""
    return _plain(cfg.get("task", "classify")) == "lm"


def report(
    cfg: Any, metrics: dict[str, Any], output_dir: str | os.PathLike[str] | None
) -> dict[str, float]:
    """Writes ``metrics.json``, logs the run and returns the task's flat mapping."""
    metrics = dict(metrics)
    objective_key = str(_plain(cfg.objective))
    objective = metrics[objective_key] if metrics["status"] == "complete" else math.nan
    metrics["objective"] = objective_key

    if output_dir is not None:
        path = Path(output_dir) / "metrics.json"
        safe = {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in metrics.items()}
        path.write_text(json.dumps(safe, indent=2) + "\n")
    log.info("device: %s", metrics["device"])
    if metrics["status"] == "diverged":
        log.warning(
            "run diverged (loss became NaN or inf in epoch %d); objective is NaN",
            metrics["diverged_epoch"] + 1,
        )
    log.info(
        "val_accuracy=%.4f val_loss=%.4f | test_accuracy=%.4f test_loss=%.4f",
        metrics["val_accuracy"],
        metrics["val_loss"],
        metrics["test_accuracy"],
        metrics["test_loss"],
    )
    log.info(
        "compile %.2fs, train %.2fs (%.0f steps/s)",
        metrics["compile_seconds"],
        metrics["train_seconds"],
        metrics["steps_per_second"],
    )
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return {"objective": float(objective), **numbers}
