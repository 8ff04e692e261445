"""The Hydra app behind ``hpfw``: compose the config, train, return the metrics."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from hpfw.config import config_dir, register_configs
from hpfw.errors import HpfwError

register_configs()


def train_task(cfg: DictConfig) -> Any:
    """One trial: train ``cfg`` and return its metrics (``objective`` first)."""
    from hpfw.run import task  # JAX loads only once Hydra has a job to run

    hydra_cfg = HydraConfig.get()
    try:
        return task(cfg, output_dir=hydra_cfg.runtime.output_dir)
    except HpfwError as error:
        # A single run reports bad input as one line and exit status 2. In a
        # multirun the error must reach the sweeper, which records the trial as
        # failed and carries on.
        if hydra_cfg.mode == RunMode.MULTIRUN or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"hpfw: error: {error}", file=sys.stderr)
        sys.exit(2)


def train_tasks(
    cfgs: Sequence[DictConfig], *, mode: str = "auto", max_group_size: int | None = None
) -> list[Callable[[DictConfig], Any]]:
    """Trains many trials together; returns one stand-in task function per config.

    The batched launcher (``hydra/launcher=batched``) calls this with a whole
    batch, then runs each stand-in inside that trial's job, where it writes
    ``metrics.json`` and the log lines and returns what ``train_task`` would.
    """
    from hpfw.batch import train_many
    from hpfw.run import is_lm, report
    from hpfw.run import task as run_task

    def stand_in(result: Any) -> Callable[[DictConfig], Any]:
        def task(cfg: DictConfig) -> Any:
            if isinstance(result, BaseException):
                raise result
            return report(cfg, result, HydraConfig.get().runtime.output_dir)

        return task

    def one_by_one(cfg: DictConfig) -> Any:
        # A language-model run evaluates and samples after training: it runs in its job.
        return run_task(cfg, output_dir=HydraConfig.get().runtime.output_dir)

    lm = [is_lm(cfg) for cfg in cfgs]
    batched = iter(
        train_many(
            [c for c, is_lm_run in zip(cfgs, lm, strict=True) if not is_lm_run],
            mode=mode,
            max_group_size=max_group_size,
        )
    )
    return [one_by_one if is_lm_run else stand_in(next(batched)) for is_lm_run in lm]


# The launcher looks for this attribute on the task function it is given.
train_task.hpfw_batch = train_tasks  # type: ignore[attr-defined]

main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")(
    train_task
)
