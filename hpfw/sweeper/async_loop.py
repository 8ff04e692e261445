"""Asynchronous sweeps: ``concurrent_trials`` trials kept running, the next one asked for at once.

Hydra's ``Launcher.launch(jobs)`` returns when every job of the list has
ended, so a batch waits for its slowest trial. Here ``N`` driver threads each
claim one trial, launch it alone (``runner.run([trial])``: one
``launcher.launch([job])`` call), record it and claim the next, so a worker
never waits for another's trial and the strategy hears each result as it
arrives. The runner decides how many of those launches may really overlap
(``max_concurrent``): the basic launcher runs jobs in this process, where
Hydra's config, the working directory and logging are process-wide, so its
trials run one at a time.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hpfw.sweeper.session import SweepSession

log = logging.getLogger("hpfw.sweeper")

POLL_S = 1.0  # how often an idle worker looks at the journal for other drivers' results


def run_async(session: SweepSession, runner: Any, concurrent: int) -> None:
    """Runs the sweep with ``concurrent`` trials at a time; raises what stopped it."""
    allowed = getattr(runner, "max_concurrent", None)
    if allowed is not None and concurrent > allowed:
        log.warning(
            "%s=%d, but %s; running %d at a time",
            session.settings.names("concurrent_trials"),
            concurrent,
            getattr(runner, "concurrency_note", "this launcher runs one trial at a time"),
            allowed,
        )
        concurrent = allowed
    session.report_in_background()
    start_runtime = getattr(runner, "start_runtime", None)
    if callable(start_runtime):  # in this (main) thread, before the drivers' launches
        start_runtime()
    ended = threading.Condition()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not errors:
                claimed = session.claim(1)
                if not claimed:
                    if session.done:
                        return
                    with ended:  # until a trial of ours ends, or a poll for other drivers'
                        ended.wait(POLL_S)
                    continue
                [(trial, record)] = claimed
                [outcome] = runner.run([trial], [record])
                session.finish([(trial, outcome)])
                with ended:
                    ended.notify_all()
        except BaseException as error:  # the main thread re-raises it
            errors.append(error)
            with ended:
                ended.notify_all()

    workers = [
        threading.Thread(target=work, name=f"hpfw-driver-{k}", daemon=True)
        for k in range(concurrent)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            # join() with a timeout keeps the main thread responsive to Ctrl-C.
            while worker.is_alive():
                worker.join(0.5)
    except KeyboardInterrupt as interrupt:
        errors.append(interrupt)  # the workers claim nothing more; their trials stay "running"
        raise
    if errors:
        raise errors[0]
    session.raise_if_stopped()
