"""``hydra/launcher=batched``: a thin adapter around ``hpfw.launch.launcher``.

Hydra imports this module at every start to discover plugins, so it imports
only Hydra; hpfw loads when jobs are launched. No ``from __future__ import
annotations``: Hydra executes plugin modules outside ``sys.modules``, where
dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.hpfw_launcher.batched_launcher.BatchedLauncher"
    # hpfw's trainer: auto measures vmapped groups against one-by-one runs and keeps
    # the faster; vmap or sequential force one. Other apps always run one by one.
    mode: str = "auto"
    max_group_size: Optional[int] = None  # trials per vmapped program (null: memory decides)


ConfigStore.instance().store(
    group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="hpfw"
)


class BatchedLauncher(Launcher):
    """Composes once per group choice; runs hpfw trials as vmapped groups."""

    def __init__(self, mode: str = "auto", max_group_size: Optional[int] = None) -> None:
        self.mode = mode
        self.max_group_size = max_group_size
        self.impl: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hpfw.launch.launcher import GroupLauncher

        self.impl = GroupLauncher(self.mode, self.max_group_size)
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        return self.impl.launch(job_overrides, initial_job_idx)

    def max_concurrent_launches(self) -> Optional[int]:
        """How many launches may overlap (asynchronous sweeps): see GroupLauncher."""
        return self.impl.max_concurrent_launches()
