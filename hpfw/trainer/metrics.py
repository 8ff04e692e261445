"""A finished run's metrics: ``metrics.json``, the log lines, and the numbers a sweeper reads."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from hpfw.values import finite_or_none, plain

log = logging.getLogger("hpfw")

COMPILE_CACHE_WORDS = {
    "process": "program reused in this process",
    "hit": "persistent cache hit",
    "miss": "compiled, now in the persistent cache",
    "off": "compiled, persistent cache off",
}


def write_run_metrics(
    cfg: Any, metrics: dict[str, Any], output_dir: str | os.PathLike[str] | None
) -> dict[str, float]:
    """Writes ``metrics.json`` (when ``output_dir`` is given), logs the run, returns its numbers.

    The numbers are the task function's flat mapping: ``objective`` first (the
    configured metric, NaN unless the run completed), then every other number.
    """
    metrics = dict(metrics)
    objective_key = str(plain(cfg.objective))
    objective = metrics[objective_key] if metrics["status"] == "complete" else math.nan
    metrics["objective"] = objective_key

    if output_dir is not None:
        path = Path(output_dir) / "metrics.json"
        safe = {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in metrics.items()}
        path.write_text(json.dumps(safe, indent=2) + "\n")
    log.info("device: %s", metrics["device"])
    if metrics.get("start_epoch"):
        log.info("continued from the checkpoint of epoch %d", metrics["start_epoch"])
    if metrics["status"] == "pruned":
        log.info("pruned after epoch %d by the sweep's pruner", metrics["pruned_epoch"] + 1)
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
