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
    # The model and data options it runs (hpfw.trainer.validate checks a run against them;
    # a sweep's model=glob(*) leaves out every other task's: glob_exclude below).
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()

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
        Task(
            "classify",
            "hpfw.trainer.run:classify_task",
            groupable=True,
            models=("mlp", "cnn", "transformer"),
            datasets=("digits", "npz"),
        ),
        # A language-model run evaluates and samples after training, in its own job.
        Task(
            "lm",
            "hpfw.lm.task:lm_task",
            groupable=False,
            modules=("hpfw.lm",),
            models=("decoder",),
            datasets=("markov", "text"),
        ),
    )
}


def task_for(cfg: Any) -> Task:
    """The task ``cfg`` asks for (``classify`` when it names none)."""
    name = plain(cfg.get("task", "classify"))
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError("task", f"got {name!r}; allowed: {', '.join(TASKS)}") from None


def glob_exclude(task: str) -> dict[str, dict[str, str]]:
    """group -> option -> why: every other task's models and data, which ``task`` cannot run.

    hpfw's app makes it the sweep's ``glob_exclude`` (``hpfw.app.sweep_defaults``),
    so ``model=glob(*)`` sweeps only the task's models.
    """
    excluded: dict[str, dict[str, str]] = {"model": {}, "data": {}}
    for other in TASKS.values():
        if other.name != task:
            why = f"task={other.name} only"
            excluded["model"].update(dict.fromkeys(other.models, why))
            excluded["data"].update(dict.fromkeys(other.datasets, why))
    return excluded
