"""A user app whose trials train as one group under the batched launcher (hpfw.launch.protocol).

Its ``train_group`` calls ``while_training`` as hpfw's trainer does, and records
what is on disk at that moment: which jobs' ``.hydra`` files are written, and
whether the task registered with ``hpfw.launch.idle`` has run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from hpfw.launch.idle import when_idle
from hpfw.launch.protocol import with_group_training

RECORD = Path(os.environ["GROUPED_RECORD"])  # written by train_group
SWEEP_DIR = Path(os.environ["GROUPED_SWEEP_DIR"])  # hydra.sweep.dir, as the test sets it


def idle_task() -> None:
    RECORD.with_suffix(".idle").write_text("ran")


def task(cfg: DictConfig) -> float:
    return float(cfg.x) ** 2


def train_group(
    cfgs: Sequence[DictConfig],
    *,
    mode: str,
    max_group_size: int | None,
    channels: Sequence[Any] | None = None,
    while_training: Callable[[], None] | None = None,
) -> list[Callable[[DictConfig], float]]:
    when_idle(idle_task)
    if while_training is not None:
        while_training()
    RECORD.write_text(
        json.dumps(
            {
                "hydra_files": sorted(
                    job.name for job in SWEEP_DIR.iterdir() if (job / ".hydra/config.yaml").exists()
                ),
                "idle_task_ran": RECORD.with_suffix(".idle").exists(),
            }
        )
    )
    return [lambda cfg, x=float(c.x): x**2 for c in cfgs]


# Hydra hands the launcher the undecorated function: the methods go on it.
with_group_training(task, groupable=lambda cfg: True, train_group=train_group)
main = hydra.main(version_base="1.3", config_path=".", config_name="grouped")(task)

if __name__ == "__main__":
    main()
