"""The Hydra app behind ``hpfw``: compose the config, run its task, return the metrics."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from hpfw.config import config_dir, metric_direction, register_configs, tie_breaker
from hpfw.config_keys import check_known_keys
from hpfw.errors import HpfwError
from hpfw.launch.protocol import JobTask, with_group_training
from hpfw.sweeper.app_defaults import with_sweep_defaults
from hpfw.tasks import glob_exclude, task_for
from hpfw.trainer.saved_settings import given_overrides
from hpfw.values import plain

register_configs()


def train_task(cfg: DictConfig) -> Any:
    """One trial: run ``cfg``'s task and return its metrics (``objective`` first)."""
    hydra_cfg = HydraConfig.get()
    try:
        check_known_keys(cfg)  # +trainer.epoch=5 must not run as if it were set
        # A checkpoint's saved settings give way only to what this job's command line set.
        with given_overrides(OmegaConf.to_container(hydra_cfg.overrides.task)):
            # The task's function loads JAX: only once Hydra has a job to run.
            return task_for(cfg).task_function()(cfg, hydra_cfg.runtime.output_dir)
    except HpfwError as error:
        # A single run reports bad input as one line and exit status 2. In a
        # multirun the error must reach the sweeper, which records the trial as
        # failed and carries on.
        if hydra_cfg.mode == RunMode.MULTIRUN or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"hpfw: error: {error}", file=sys.stderr)
        sys.exit(2)


def groupable(cfg: DictConfig) -> bool:
    """Whether ``cfg``'s task trains in groups (``hpfw.tasks``); a bad task runs in its job."""
    try:
        check_known_keys(cfg)  # else its job reports the key
        return task_for(cfg).groupable
    except HpfwError:
        return False


def train_group(
    cfgs: Sequence[DictConfig],
    *,
    mode: str = "auto",
    max_group_size: int | None = None,
    channels: Sequence[Any] | None = None,
    while_training: Callable[[], None] | None = None,
) -> list[JobTask]:
    """Trains groupable trials together; returns one stand-in task function per config.

    The batched launcher (``hydra/launcher=batched``) calls this with a
    launch's groupable configs, then runs each stand-in inside that trial's
    job, where it writes ``metrics.json`` and the log lines and returns what
    ``train_task`` would. ``while_training``: see ``train_many``.
    """
    from hpfw.trainer.groups import train_many
    from hpfw.trainer.metrics import write_run_metrics

    def stand_in(result: Any) -> JobTask:
        def task(cfg: DictConfig) -> Any:
            if isinstance(result, BaseException):
                raise result
            return write_run_metrics(cfg, result, HydraConfig.get().runtime.output_dir)

        return task

    results = train_many(
        cfgs,
        mode=mode,
        max_group_size=max_group_size,
        channels=channels,
        while_training=while_training,
    )
    return [stand_in(result) for result in results]


def sweep_defaults(cfg: DictConfig) -> dict[str, Any]:
    """How hpfw's sweeper treats this app's results (``hpfw.sweeper.app_defaults``).

    A sweep optimises the configured ``objective`` in that metric's direction
    (``objective=val_loss`` flips it), breaks ties on a second metric
    (accuracy on a small split is coarse) and leaves another task's models and
    data out of ``group=glob(*)``. The strategy's own programs (bayes's GP) go
    to the trainer's compilation cache, or to none when that is off (null).
    ``hydra.sweeper.*`` values given by the user win.
    """
    objective = str(plain(cfg.objective))
    cache = OmegaConf.select(cfg, "trainer.compilation_cache_dir")
    return {
        "objective": objective,
        "direction": metric_direction(objective),
        "tie_breaker": tie_breaker(objective),
        "glob_exclude": glob_exclude(str(plain(cfg.get("task", "classify")))),
        "compilation_cache_dir": "" if cache is None else str(cache),
    }


# The launcher and the sweeper are handed this very function: their methods live on it.
with_group_training(train_task, groupable=groupable, train_group=train_group)
with_sweep_defaults(train_task, sweep_defaults)
# hpfw's sweeper checks a sweep's composed config with it once, before any trial runs
# (hpfw.sweeper.precheck), instead of failing every trial on the same unknown key.
train_task.check_config = check_known_keys  # type: ignore[attr-defined]

main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")(
    train_task
)
