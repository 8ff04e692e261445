"""Rewriting a running sweep's reports: throttled plots, and (asynchronous sweeps) a thread.

best.yaml and trials.csv are rewritten after every finished trial or batch;
the plots at most every ``PLOT_INTERVAL_S`` and only while drawing them takes
at most ``PLOT_SHARE`` of the time (report.html's importances cost seconds on
a large sweep). In an asynchronous sweep a thread of its own writes them, so a
worker that has just finished a trial claims the next at once instead of
drawing plots first; only the newest snapshot of the records is drawn.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from hpfw.sweeper import reports

log = logging.getLogger("hpfw.sweeper")

PLOT_INTERVAL_S = 10.0  # redraw the plots at most this often while running (they cost ~0.3 s)
PLOT_SHARE = 0.1

Records = list[dict[str, Any]]


class ReportWriter:
    """Writes ``reports.write_reports`` for one sweep directory, now or in the background."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self._lock = threading.Lock()
        self._last_plot, self._plot_cost = 0.0, 0.0
        self._thread: threading.Thread | None = None
        self._ready = threading.Condition()
        self._latest: tuple[dict[str, Any], Records, bool] | None = None
        self._closing = False

    def in_background(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hpfw-reports", daemon=True)
        self._thread.start()

    def write(
        self, header: dict[str, Any], records: Records, final: bool = False, plots: bool = True
    ) -> None:
        """Writes the reports; the plots when ``final``, or when due and ``plots`` allows."""
        if self._thread is not None and not final:
            with self._ready:
                self._latest = (header, records, plots)  # only the newest snapshot matters
                self._ready.notify()
            return
        self._write(header, records, final, plots)

    def close(self) -> None:
        """Stops the background thread (after its current drawing)."""
        if self._thread is None:
            return
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()
        self._thread = None

    def _loop(self) -> None:
        while True:
            with self._ready:
                while self._latest is None and not self._closing:
                    self._ready.wait()
                latest, self._latest = self._latest, None
            if latest is None:
                return
            header, records, plots = latest
            try:
                self._write(header, records, final=False, plots=plots)
            except Exception as error:  # a report must not stop the sweep
                log.warning("could not write the reports: %s", error)

    def _write(
        self, header: dict[str, Any], records: Records, final: bool, plots: bool = True
    ) -> None:
        if not records:
            return
        with self._lock:
            began = time.monotonic()
            wait = max(PLOT_INTERVAL_S, self._plot_cost / PLOT_SHARE)
            plots = final or (plots and began - self._last_plot > wait)
            reports.write_reports(self.sweep_dir, header, records, plots=plots)
            if plots:
                self._last_plot = time.monotonic()
                self._plot_cost = self._last_plot - began
