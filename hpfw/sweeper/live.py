"""A sweep's live progress bar in a terminal (rich): done, running, failed, best, ETA.

``hpfw.sweeper.progress.Progress`` uses it when its console is a terminal and
falls back to one log line per batch otherwise (CI, SLURM logs, pipes), so
logs stay grep-able. ``HPFW_PROGRESS=plain`` or ``=bar`` overrides the guess.
While the bar is up, log lines and prints from the sweep's process go through
rich's console, so they scroll above the bar instead of tearing it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

ENV = "HPFW_PROGRESS"


def wants_bar(console: Console | None) -> bool:
    """Whether to draw a bar: a terminal, unless ``HPFW_PROGRESS`` says otherwise."""
    choice = os.environ.get(ENV, "").strip().lower()
    if choice in ("plain", "lines", "off"):
        return False
    if choice in ("bar", "rich"):
        return True
    if console is None:
        # Without a console to hand, look at stderr, where rich would draw.
        stream = sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"
    return console.is_terminal and not console.is_dumb_terminal


class Bar:
    """The rich progress bar of one sweep; ``update`` starts it, ``close`` stops it."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console or Console(stderr=True),
            redirect_stdout=True,
            redirect_stderr=True,
            refresh_per_second=4,
        )
        self.task: Any = None
        self._routed: list[tuple[logging.StreamHandler, Any]] = []

    def update(self, done: int, total: int, status: str) -> None:
        if self.task is None:
            real = {id(s): k for k, s in enumerate((sys.stdout, sys.stderr))}
            real.update({id(sys.__stdout__): 0, id(sys.__stderr__): 1})
            self.progress.start()
            self._route_logging(real)
            self.task = self.progress.add_task("sweep", total=total, completed=done, status=status)
            return
        self.progress.update(self.task, completed=done, total=total, status=status)

    def close(self) -> None:
        if self.task is None:
            return
        self.progress.refresh()
        self.progress.stop()
        for handler, stream in self._routed:
            handler.setStream(stream)
        self._routed = []
        self.task = None

    def _route_logging(self, real: dict[int, int]) -> None:
        # Handlers made before the bar started (Hydra's, the sweep's) hold the real
        # stdout/stderr (``real``: id -> 0 or 1); rich has swapped sys.stdout and
        # sys.stderr for proxies that print above the bar, so point those handlers at
        # the proxies while it is up.
        proxies = (sys.stdout, sys.stderr)
        names = list(logging.root.manager.loggerDict)
        for logger in [logging.getLogger(), *(logging.getLogger(n) for n in names)]:
            for handler in getattr(logger, "handlers", ()):
                if type(handler) is logging.StreamHandler and id(handler.stream) in real:
                    old = handler.setStream(proxies[real[id(handler.stream)]])
                    if old is not None:
                        self._routed.append((handler, old))
