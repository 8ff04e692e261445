"""One training run: validate the config, train with the compiled trainer, report metrics.

With ``trainer.checkpoint_dir`` set, a run continues from the latest checkpoint
there saved before ``trainer.epochs`` and saves its own final state there: the
contract multi-fidelity sweeps (sha, hyperband) rely on.
"""

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

from hpfw import checkpoint, train
from hpfw import device as devices
from hpfw.data import load_dataset
from hpfw.errors import ConfigError
from hpfw.models import validate_model
from hpfw.validate import validate_against_data, validate_config

log = logging.getLogger("hpfw")
# JAX logs at INFO that it found no TPU library on every CPU-only start: noise.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


COMPILE_CACHE_WORDS = {
    "process": "program reused in this process",
    "hit": "persistent cache hit",
    "miss": "compiled, now in the persistent cache",
    "off": "compiled, persistent cache off",
}


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
    checkpoint_dir: str | None = None  # where the final state is saved
    start_path: Path | None = None  # the checkpoint this run continues from

    @property
    def saves_state(self) -> bool:
        return self.checkpoint_dir is not None

    def start_state(self) -> train.TrainState | None:
        """The state to continue from (restored from disk), or None for a fresh run."""
        if self.start_path is None:
            return None
        state = checkpoint.restore(self.start_path, train.abstract_state(self.spec))
        return jax.device_put(state, self.device)


def prepare(cfg: Any) -> PreparedRun:
    """Validates ``cfg`` and loads what it trains on; ``ConfigError``/``DataError`` if bad."""
    validate_config(cfg)
    dataset = load_dataset(cfg.data, context_length=cfg.model.get("context_length"))
    validate_against_data(cfg, len(dataset.y_train))
    validate_model(cfg.model, dataset.feature_shape)
    device = devices.select_device(str(_plain(cfg.trainer.device)))
    devices.enable_compilation_cache(cfg.trainer.compilation_cache_dir)
    checkpoint_dir = cfg.trainer.get("checkpoint_dir")
    found = checkpoint_dir and checkpoint.latest(checkpoint_dir, before=int(cfg.trainer.epochs))
    start_epoch, start_path = found if found else (0, None)
    spec = train.static_spec(cfg, dataset, start_epoch)
    saved_signature = start_path and checkpoint.read_metadata(start_path).get("signature")
    if start_path is not None and saved_signature != spec.signature:
        raise ConfigError(
            "trainer.checkpoint_dir",
            f"{start_path} holds the state of another model, optimiser, data or schedule; "
            "continue it with the same config (only trainer.epochs may grow), "
            "or use an empty directory",
        )
    return PreparedRun(
        cfg=cfg,
        spec=spec,
        device=device,
        data=train.device_arrays(dataset, device),
        hparams=train.hparams_from_config(cfg),
        seed=int(cfg.trainer.seed),
        checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
        start_path=start_path,
    )


def run_program(
    run: PreparedRun, trials: int = 0, with_state: bool = False
) -> train.CompiledProgram:
    """The compiled program ``run`` needs: continuing or not, returning its state or not."""
    return train.compiled_program(
        run.spec,
        run.data,
        run.device,
        trials,
        with_state=run.saves_state or with_state,
        resume=run.start_path is not None,
    )


def summarize(
    run: PreparedRun,
    out: dict[str, Any],
    *,
    seconds: float,
    compile_seconds: float,
    flops: float,
    compile_cache: str = "process",
) -> dict[str, Any]:
    """Every metric of one trained trial, from the program's (host) outputs.

    Saves the final state to ``trainer.checkpoint_dir`` when the run has one
    and did not diverge.
    """
    diverged = bool(out["diverged"])
    spec = run.spec
    steps = spec.total_steps
    metrics: dict[str, Any] = {
        "status": "diverged" if diverged else "complete",
        "device": devices.describe(run.device),
        "start_epoch": spec.start_epoch,
        "epochs": {
            "epoch": list(range(spec.start_epoch + 1, spec.epochs + 1)),
            "train_loss": [_finite_or_none(float(v)) for v in out["train_loss"]],
            "val_loss": [_finite_or_none(float(v)) for v in out["val_loss"]],
            "val_accuracy": [_finite_or_none(float(v)) for v in out["val_accuracy"]],
        },
        "val_loss": float(out["val_loss"][-1]),
        "val_accuracy": float(out["val_accuracy"][-1]),
        "test_loss": float(out["test_loss"]),
        "test_accuracy": float(out["test_accuracy"]),
        "compile_seconds": compile_seconds,
        # Where the program came from: "process" (already compiled in this process),
        # "hit" (loaded from the persistent cache), "miss" (compiled and cached), "off".
        "compile_cache": compile_cache,
        "train_seconds": seconds,
        "steps": steps,
        "steps_per_second": steps / seconds if seconds > 0 else 0.0,
        "flops": flops,
        "flops_per_second": flops / seconds if seconds > 0 else 0.0,
    }
    if diverged:
        metrics["diverged_epoch"] = int(out["diverged_epoch"])
    elif run.checkpoint_dir is not None:
        saved = checkpoint.save(
            run.checkpoint_dir,
            out["state"],
            {
                "epoch": spec.epochs,
                "signature": spec.signature,
                "val_loss": metrics["val_loss"],
                "val_accuracy": metrics["val_accuracy"],
            },
        )
        metrics["checkpoint"] = str(saved)
    return metrics


def train_and_evaluate(cfg: Any) -> dict[str, Any]:
    """Trains the configured model once and returns every metric of the run.

    Raises ``ConfigError``/``DataError`` for bad input before any training.
    """
    return train_prepared(prepare(cfg))


def train_prepared(run: PreparedRun, return_state: bool = False) -> Any:
    """Trains one prepared run on its (cached) single-trial program.

    ``return_state=True`` returns ``(metrics, state)``: the trained ``TrainState``
    (on the device) as well, for a task that goes on using the model.
    """
    program = run_program(run, with_state=return_state)
    compiled_now = program.first_use()

    hparams = jax.device_put(train.as_hparams(run.hparams), run.device)
    key = jax.device_put(jax.random.key(run.seed), run.device)
    start_state = run.start_state()
    start = time.perf_counter()
    args = (hparams, key, run.data) + ((start_state,) if start_state is not None else ())
    out = jax.block_until_ready(program.run(*args))
    seconds = time.perf_counter() - start
    metrics = summarize(
        run,
        jax.tree.map(np.asarray, out),
        seconds=seconds,
        compile_seconds=program.compile_seconds if compiled_now else 0.0,
        flops=program.flops,
        compile_cache=program.cache if compiled_now else "process",
    )
    return (metrics, out["state"]) if return_state else metrics


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
    if metrics.get("start_epoch"):
        log.info("continued from the checkpoint of epoch %d", metrics["start_epoch"])
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
    if metrics["steps"]:  # a run that only evaluates a saved model trains nothing
        log.info(
            "compile %.2fs (%s), train %.2fs (%.0f steps/s)",
            metrics["compile_seconds"],
            COMPILE_CACHE_WORDS.get(metrics.get("compile_cache", ""), "compiled"),
            metrics["train_seconds"],
            metrics["steps_per_second"],
        )
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return {"objective": float(objective), **numbers}
