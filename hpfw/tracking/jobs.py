"""What a tracker records of one Hydra job: its params, metrics per epoch and at the end, status.

Read from what Hydra hands every callback (the job's config and its
``JobReturn``) and from the job's ``metrics.json`` when hpfw's trainer wrote
one, so the trackers need nothing from the app or the sweeper.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hpfw.sweeper.intermediate import epoch_series
from hpfw.values import is_number, one_line

COMPLETE, FAILED, DIVERGED = "complete", "failed", "diverged"


@dataclass(frozen=True)
class Job:
    """A Hydra job as a tracked run."""

    num: int  # hydra.job.num: the job (trial) number in a sweep, 0 in a single run
    name: str  # hydra.job.name: the app's name, the default experiment
    job_dir: Path  # hydra.runtime.output_dir
    sweep_dir: Path | None  # hydra.sweep.dir in a multirun, else None
    params: dict[str, str] = field(default_factory=dict)  # the job's own overrides
    objective: str = "objective"  # the key a sweeper reads from a returned mapping


def _select(config: DictConfig, key: str, default: Any = None) -> Any:
    value = OmegaConf.select(config, key, default=default, throw_on_missing=False)
    return default if value is None else value


def sweep_dir(config: DictConfig) -> Path:
    """``hydra.sweep.dir`` as an absolute path (what ``on_multirun_*`` see)."""
    return Path(str(_select(config, "hydra.sweep.dir", "."))).absolute()


def job(config: DictConfig) -> Job:
    """The job a callback's ``config`` describes (``on_job_start``/``on_job_end``)."""
    multirun = str(_select(config, "hydra.mode", "")).endswith("MULTIRUN")
    params = {}
    for override in _select(config, "hydra.overrides.task", []) or []:
        key, _, value = str(override).partition("=")
        key = key.lstrip("+~")
        if key and not key.startswith(("hydra.", "hydra/")):
            params[key] = value
    objective = _select(config, "hydra.sweeper.objective", None)
    return Job(
        num=int(_select(config, "hydra.job.num", 0) or 0),
        name=str(_select(config, "hydra.job.name", "hydra")),
        job_dir=Path(str(_select(config, "hydra.runtime.output_dir", "."))).absolute(),
        sweep_dir=sweep_dir(config) if multirun else None,
        params=params,
        objective=str(getattr(objective, "value", objective) or "objective"),
    )


def outcome(job_return: Any, objective: str) -> tuple[str, dict[str, float], str | None]:
    """The job's status, final metrics and error from Hydra's ``JobReturn``.

    A number is the objective; a mapping gives every numeric entry. NaN or inf
    as the objective is ``diverged``, as the sweep's journal says.
    """
    from hydra.core.utils import JobStatus

    if job_return.status != JobStatus.COMPLETED:
        # The return_value property writes to stderr and re-raises; the sweeper reads
        # it too, so read the stored exception without either.
        error = getattr(job_return, "_return_value", None)
        return FAILED, {}, one_line(error) if isinstance(error, BaseException) else "failed"
    value = job_return.return_value
    if isinstance(value, Mapping):
        metrics = {str(k): float(v) for k, v in value.items() if is_number(v)}
        main = value.get(objective)
    else:
        main = value
        metrics = {"objective": float(value)} if is_number(value) else {}
    if is_number(main) and not math.isfinite(main):
        return DIVERGED, metrics, f"the objective is {main}"
    return COMPLETE, metrics, None


def curves(job_dir: Path) -> dict[str, dict[int, float]]:
    """Per-epoch metrics of the job (name -> epoch -> value), or none."""
    return epoch_series(job_dir)
