"""A Hydra callback that appends what each job's callbacks see to a JSON-lines file."""

from __future__ import annotations

import json
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class Recorder(Callback):
    def __init__(self, path: str) -> None:
        self.path = path

    def _write(self, **event: Any) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(event) + "\n")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._write(event="start", num=config.hydra.job.num, lr=config.optimizer.lr)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        value = job_return.return_value
        self._write(
            event="end",
            num=job_return.hydra_cfg.hydra.job.num,
            status=job_return.status.name,
            objective=value["objective"],
        )
