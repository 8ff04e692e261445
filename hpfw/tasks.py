"""The tasks hpfw runs (``task=classify``, ``task=lm``): what each runs, and whether it groups.

The app and the batched launcher consult this table instead of asking "is this
a language model?" wherever it matters. A task's function is named as
``"module:attribute"`` and imported only when a run starts, so reading the
table imports neither JAX nor any task.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpfw.errors import ConfigError
from hpfw.values import plain

# (cfg, output_dir) -> the run's flat mapping of numbers, ``objective`` first.
TaskFunction = Callable[[Any, str | os.PathLike[str] | None], dict[str, float]]


@dataclass(frozen=True)
class Task:
    """One value of the ``task`` config group."""

    name: str
    function: str  # "module:attribute" of its TaskFunction
    # Whether trials of it can train as a group (vmapped, or side by side in
    # threads) in the batched launcher; otherwise each runs in its own job.
    groupable: bool
    modules: tuple[str, ...] = ()  # imported before its data loads: they register its datasets

    def import_modules(self) -> None:
        """Imports ``modules``, so that the task's datasets are registered."""
        for module in self.modules:
            importlib.import_module(module)

    def task_function(self) -> TaskFunction:
        """The task's function, imported (with ``modules``)."""
        self.import_modules()
        module, _, attribute = self.function.partition(":")
        function: TaskFunction = getattr(importlib.import_module(module), attribute)
        return function


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("classify", "hpfw.trainer.run:classify_task", groupable=True),
        # A language-model run evaluates and samples after training, in its own job.
        Task("lm", "hpfw.lm.task:lm_task", groupable=False, modules=("hpfw.lm",)),
    )
}


def task_for(cfg: Any) -> Task:
    """The task ``cfg`` asks for (``classify`` when it names none)."""
    name = plain(cfg.get("task", "classify"))
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError("task", f"got {name!r}; allowed: {', '.join(TASKS)}") from None
