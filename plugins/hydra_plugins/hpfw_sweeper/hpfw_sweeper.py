"""The Hydra ``Sweeper`` for hpfw: a thin adapter around ``hpfw.sweeper.hydra_sweep``.

Hydra imports this module at every start to discover plugins, so it imports
only Hydra and hpfw's settings; the strategies and the sweep loop load when a
sweep actually begins.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hpfw_sweeper import config  # stores the sweeper configs
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
            # Creates the launcher, which checks its own settings (hydra.launcher.mode);
            # settings are checked here, once the app's defaults are known.
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


# One subclass per installed strategy (HpfwGridSweeper, HpfwRandomSweeper, ...), each the
# _target_ of its hydra/sweeper=<name> config: Hydra's `--info plugins` lists a plugin per
# class it finds in this module, so every hpfw sweeper shows there by name.
for _name in config.strategy_names():
    _class = type(
        config.class_name(_name),
        (HpfwSweeper,),
        {
            "__doc__": f"hydra/sweeper={_name}: hpfw's sweeper with the {_name} strategy.",
            "__module__": __name__,  # Hydra finds a plugin by module and class name
        },
    )
    globals()[_class.__name__] = _class


def _exit(error: Exception) -> None:
    """Bad sweep input or a stopped sweep: one line and status 2, instead of Hydra's
    message plus its stack-trace hint. The journal and the reports are already written."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"hpfw: error: {error}", file=sys.stderr)
    sys.exit(2)
