"""What the batched launcher asks of a task function that trains a launch's trials together.

``hydra/launcher=batched`` runs any task function job by job. A task function
that also has the ``GroupTaskFunction`` methods (hpfw's own,
``hpfw.app.train_task``) is asked which configs can train as a group; it
trains those together before the jobs run and returns one stand-in task
function per config, which the launcher then runs inside that config's job
(output directory, ``.hydra`` files, log, ``metrics.json``). Both sides import
this module; it imports neither Hydra nor JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

# ``hydra.launcher.mode``: how a group trains. auto measures and keeps the faster
# of the two others; vmap runs it as one vmapped program; sequential runs its
# trials on the single-trial program (side by side in threads on a CPU).
MODES: tuple[str, ...] = ("auto", "vmap", "sequential")

JobTask = Callable[[Any], Any]  # what a job runs: the job's config -> its return value


@runtime_checkable
class GroupTaskFunction(Protocol):
    """A task function the launcher can hand whole groups of configs to."""

    def __call__(self, cfg: Any) -> Any:
        """One job, as under any launcher."""
        ...

    def groupable(self, cfg: Any) -> bool:
        """Whether ``cfg``'s trial can train in a group (else it runs in its job)."""
        ...

    def train_group(
        self,
        cfgs: Sequence[Any],
        *,
        mode: str,
        max_group_size: int | None,
        channels: Sequence[Any] | None = None,
        while_training: Callable[[], None] | None = None,
    ) -> list[JobTask]:
        """Trains ``cfgs`` together; returns, per config, what its job then runs.

        A trial that fails does so alone: its stand-in raises the error in its job.
        ``channels`` holds each config's sweep channel (``hpfw.pruning``), through
        which its trial reports intermediate values and learns whether to stop:
        the group trains before any job runs, so a trial cannot find its channel
        from Hydra's job config then. ``while_training`` is to be called once, in
        the calling thread, while the trials train elsewhere if they do (else
        at any point): the launcher writes the jobs' files there.
        """
        ...


def with_group_training(
    task: JobTask,
    *,
    groupable: Callable[[Any], bool],
    train_group: Callable[..., list[JobTask]],
) -> GroupTaskFunction:
    """``task`` with the ``GroupTaskFunction`` methods attached.

    The launcher is given the task function itself (Hydra passes it on), so the
    methods live on that function object.
    """
    task.groupable = groupable  # type: ignore[attr-defined]
    task.train_group = train_group  # type: ignore[attr-defined]
    assert isinstance(task, GroupTaskFunction)
    return task
