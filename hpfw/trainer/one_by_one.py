"""Trials on their single-trial program: one at a time, or side by side in threads on a CPU.

XLA:CPU runs one trial's small operations on about one core, and JAX releases
the GIL while a program runs, so on a CPU one trial per core in threads
finishes a batch that many times sooner than one at a time
(docs/benchmarks.md). ``hpfw.trainer.groups`` sends trials here unless it
vmaps them, and every trial's metrics record how it ran (``tagged``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax

from hpfw.trainer import compiled
from hpfw.trainer.order import TrialQueue
from hpfw.trainer.run import PreparedRun, train_prepared

Result = dict[str, Any] | BaseException


def tagged(results: list[Result], mode: str, width: int, reason: str = "") -> list[Result]:
    """``results`` with how they ran (``"group"`` in metrics.json) added to each metrics dict."""
    group: dict[str, Any] = {"mode": mode, "width": width}
    if reason:
        group["reason"] = reason
    for result in results:
        if isinstance(result, dict):
            result["group"] = dict(group)
    return results


def guarded(fn: Any, *args: Any) -> Result:
    """``fn(*args)``, or the exception it raised: a trial that fails, fails alone."""
    try:
        return fn(*args)
    except Exception as error:
        return error


def run_one(run: PreparedRun, speeds: dict[str | int, float]) -> dict[str, Any]:
    """Trains ``run`` alone and records its seconds as the group's sequential speed."""
    metrics = train_prepared(run)
    speeds["sequential"] = metrics["train_seconds"]
    return metrics


def concurrency(device: jax.Device, n: int) -> int:
    """How many trials run side by side on the single-trial program.

    One per core on a CPU (2x on this 2-core machine). An accelerator already
    spreads one trial's work over its cores: there trials run one at a time
    (or vmapped).
    """
    if device.platform != "cpu":
        return 1
    return max(1, min(n, len(os.sched_getaffinity(0))))


def run_side_by_side(
    runs: Sequence[PreparedRun],
    speeds: dict[str | int, float],
    while_training: Callable[[], None] | None = None,
) -> list[Result]:
    """Runs ``runs`` on the single-trial program, ``concurrency`` of them at a time.

    ``while_training`` runs in this thread once the runs' programs are compiled
    and the trials train in threads (before, this thread's Python would slow
    their tracing, which holds the GIL); with one thread, after the trials.
    """
    workers = concurrency(runs[0].device, len(runs))
    if workers == 1:
        results = [guarded(run_one, run, speeds) for run in runs]
        if while_training is not None:
            while_training()
        return tagged(results, "sequential", 1)
    # The first trial to need the program compiles it (and reports the compile
    # time); the other threads wait for it (``ProgramCache``). A free thread takes
    # the longest trial whose program is compiled (``hpfw.trainer.order``).
    start = time.perf_counter()
    queue = TrialQueue(runs, ready=is_compiled, estimate=lambda run: run.estimate)
    results: list[Result | None] = [None] * len(runs)

    def work() -> None:
        while (i := queue.next()) is not None:
            results[i] = guarded(train_prepared, runs[i])

    with ThreadPoolExecutor(workers, thread_name_prefix="hpfw-trial") as pool:
        threads = [pool.submit(work) for _ in range(workers)]
        if while_training is not None:
            for key in {_program_key(run) for run in runs}:
                compiled.PROGRAMS.wait(key)
            while_training()
        for done in threads:
            done.result()
    speeds["sequential"] = (time.perf_counter() - start) / len(runs)
    return tagged(results, "sequential", 1)  # type: ignore[arg-type]


def is_compiled(run: PreparedRun) -> bool:
    """Whether ``run``'s single-trial program is compiled in this process."""
    return _program_key(run) in compiled.PROGRAMS


def _program_key(run: PreparedRun) -> tuple[Any, ...]:
    return compiled.program_key(run.spec, run.device, monitored=run.monitored)
