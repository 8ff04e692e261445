"""The Hydra ``Sweeper`` for hpfw: a thin adapter around ``hpfw.sweeper.hydra_sweep``.

Hydra imports this module at every start to discover plugins, so it imports
only Hydra and hpfw's settings; the strategies and the sweep loop load when a
sweep actually begins.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import hydra_plugins.hpfw_sweeper.config  # noqa: F401  (stores the sweeper configs)
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class HpfwSweeper(Sweeper):
    """Runs a sweep with any registered hpfw strategy (grid, random, bayes, plugins)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.sweep_impl: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hpfw.errors import HpfwError
        from hpfw.sweeper.hydra_sweep import HydraSweep

        try:
            self.sweep_impl = HydraSweep(self.settings)
            # Settings are checked here, once the app's defaults are known.
            self.sweep_impl.setup(
                hydra_context=hydra_context, task_function=task_function, config=config
            )
        except HpfwError as error:
            _exit(error)

    def sweep(self, arguments: list[str]) -> Any:
        from hpfw.errors import HpfwError

        try:
            return self.sweep_impl.sweep(arguments)
        except HpfwError as error:
            _exit(error)


def _exit(error: Exception) -> None:
    """Bad sweep input or a stopped sweep: one line and status 2, instead of Hydra's
    message plus its stack-trace hint. The journal and the reports are already written."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"hpfw: error: {error}", file=sys.stderr)
    sys.exit(2)
