"""What an app tells hpfw's sweeper about itself: its objective, direction, tie-breaker, globs.

A task function that also has a ``sweep_defaults(cfg)`` method (hpfw's own,
``hpfw.app.train_task``) supplies defaults for the settings a user left null:
hpfw's app optimises its configured ``objective`` in that metric's direction,
breaks ties on the validation loss, leaves another task's models out of
``model=glob(*)`` and caches the strategy's compiled programs where its trainer
caches its own (``trainer.compilation_cache_dir``). Settings given on the
command line always win. The defaults come from the task function rather than
from ``hydra.sweeper.*`` keys in the app's config, so the app composes with any
Hydra sweeper (``hydra/sweeper=basic`` has no such keys). This module imports
neither Hydra nor JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

# The settings an app may default (null in SweepSettings until resolved; glob_exclude
# is merged per group).
APP_SETTINGS = ("objective", "direction", "tie_breaker", "glob_exclude", "compilation_cache_dir")


@runtime_checkable
class SweepDefaults(Protocol):
    """A task function that knows how hpfw's sweeper should treat its results."""

    def __call__(self, cfg: Any) -> Any: ...

    def sweep_defaults(self, cfg: Any) -> Mapping[str, Any]:
        """Defaults for ``APP_SETTINGS`` given the composed config ``cfg``."""
        ...


def with_sweep_defaults(
    task: Callable[[Any], Any], defaults: Callable[[Any], Mapping[str, Any]]
) -> SweepDefaults:
    """``task`` with a ``sweep_defaults`` method (Hydra hands the sweeper this function)."""
    task.sweep_defaults = defaults  # type: ignore[attr-defined]
    assert isinstance(task, SweepDefaults)
    return task


def app_defaults(task_function: Any, cfg: Any) -> Mapping[str, Any]:
    """The app's defaults, or none when its task function has no ``sweep_defaults``."""
    if isinstance(task_function, SweepDefaults):
        return {k: v for k, v in task_function.sweep_defaults(cfg).items() if k in APP_SETTINGS}
    return {}
