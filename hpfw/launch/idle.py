"""Work that can wait until this process is idle while a batch of trials trains.

With the batched launcher, a launch's trials train in threads of their own,
their programs running without the GIL, and the launching thread has nothing
to do until they finish. Work that would otherwise come after the batch, on
the sweep's critical path, can go there: the launcher writes the jobs'
``.hydra`` files then, and runs the tasks registered here, such as the
sweeper's drawing libraries imported ahead of the final reports (about a
second on this 2-core CPU: docs/benchmarks.md, issue 14, "Ninth session").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_tasks: list[Callable[[], object]] = []
_lock = threading.Lock()


def when_idle(task: Callable[[], object]) -> None:
    """Runs ``task`` once, the next time a batch trains in this process (if one does)."""
    with _lock:
        if task not in _tasks:
            _tasks.append(task)


def run_idle_tasks() -> None:
    """Runs and forgets the registered tasks; one that fails is logged and skipped."""
    with _lock:
        tasks = list(_tasks)
        _tasks.clear()
    for task in tasks:
        try:
            task()
        except Exception as error:  # a head start only: whoever needs the work does it again
            log.debug("idle task %r failed: %s", task, error)
