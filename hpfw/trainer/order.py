"""Which trial a free thread runs next: the longest of those whose program is compiled.

Side by side on a CPU (``hpfw.trainer.groups``), a batch's programs compile
while its first trials train. Taken in the batch's order, a thread would wait
for a program still compiling while another is ready, and the longest trials
(the widest and deepest, often the last program's) would start last and finish
alone, one core idle. So a thread takes, among the trials whose program is
compiled, the one the cost model expects to run longest (longest processing
time first); when none is compiled yet, the batch's next trial in order (its
program was the first to start compiling). Trials without an estimate keep
their order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class TrialQueue:
    """Hands out the indices of ``items`` to worker threads, each once."""

    def __init__(
        self,
        items: Sequence[T],
        ready: Callable[[T], bool],
        estimate: Callable[[T], float | None],
    ) -> None:
        self._items, self._ready = items, ready
        self._in_order = list(range(len(items)))
        self._longest = sorted(self._in_order, key=lambda i: -(estimate(items[i]) or 0.0))
        self._lock = threading.Lock()

    def next(self) -> int | None:
        """The next trial's index, or None when every trial has been handed out."""
        with self._lock:
            if not self._in_order:
                return None
            chosen = next((i for i in self._longest if self._ready(self._items[i])), None)
            if chosen is None:
                chosen = self._in_order[0]
            self._in_order.remove(chosen)
            self._longest.remove(chosen)
            return chosen
