"""Trial groups: many trials of hpfw's trainer at once, grouped by static signature.

Trials whose configs share a ``StaticSpec`` differ only in traced inputs
(hyperparameters and seed), so a group runs as one ``vmap``-ed program over
(hparams, key) with the data shared, or on the cached single-trial program
("sequential": on a CPU, one trial per core side by side in threads).
``mode="auto"`` runs side by side on a CPU, where that was measured to beat
vmapped groups 2x; on an accelerator it measures one trial alone against the
vmapped group on the first group of each signature and keeps the faster (the
vmapped program wins by orders of magnitude on a GPU). Groups are split so that
one program's memory need, as XLA reports it, fits the device.

Every trial's metrics say how it ran, in ``"group"``: ``{"mode": "vmap",
"width": w}`` (a ``w``-wide vmapped program), ``{"mode": "sequential", "width":
1}`` (the single-trial program), or ``{"mode": "fallback", "width": 1,
"reason": ...}`` (its vmapped group failed as a whole, so it ran alone): a
group that fell back is never mistaken for a vmapped one.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.launch.protocol import MODES
from hpfw.trainer import compiled, monitor, one_by_one
from hpfw.trainer.compiled import CompiledProgram
from hpfw.trainer.device_costs import MAX_GROUP, vmap_width
from hpfw.trainer.one_by_one import Result, guarded, tagged
from hpfw.trainer.run import PreparedRun, prepare, run_program, summarize
from hpfw.trainer.spec import ProgramSpec
from hpfw.values import one_line

log = logging.getLogger("hpfw.groups")

MEMORY_FRACTION = 0.5  # of the device's free memory one program may plan to use

# Seconds per trial measured for each (signature, device): "sequential" or a vmap width.
GroupKey = tuple[ProgramSpec, str, bool, bool]  # program, device, resumes, monitored
_speeds: dict[GroupKey, dict[str | int, float]] = {}


def free_memory(device: jax.Device) -> int:
    """Bytes a program may still allocate on ``device`` (an estimate)."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _program_bytes(program: CompiledProgram) -> int:
    try:
        memory = program.run.memory_analysis()
    except Exception:  # not every backend reports it
        return 0
    if memory is None:
        return 0
    return int(memory.temp_size_in_bytes + memory.output_size_in_bytes)


def _vmapped_program(runs: Sequence[PreparedRun], width: int) -> tuple[CompiledProgram, int, bool]:
    """The program for ``width`` trials, halved until XLA's memory estimate fits."""
    first = runs[0]
    while True:
        program = run_program(first, trials=width)
        compiled = program.first_use()
        need = _program_bytes(program)
        if width == 1 or need <= MEMORY_FRACTION * free_memory(first.device):
            return program, width, compiled
        log.info("a %d-trial program needs %.1f GB: splitting it", width, need / 1e9)
        width //= 2


def _run_vmapped(
    runs: Sequence[PreparedRun], width: int, speeds: dict[str | int, float]
) -> list[Result]:
    program, width, compiled = _vmapped_program(runs, width)
    if width < len(runs):
        return [
            r
            for k in range(0, len(runs), width)
            for r in _run_vmapped(runs[k : k + width], width, speeds)
        ]
    first = runs[0]
    padded = list(runs) + [first] * (width - len(runs))  # unused copies fill the width
    # Hyperparameters and structural values, one row per trial: one program spans
    # every architecture of its envelope.
    inputs = jax.tree.map(lambda *values: np.stack(values), *[r.inputs() for r in padded])
    slots = [monitor.register(monitor.reporter_for(r)) for r in runs] if first.monitored else []
    if slots:  # each trial reports through its own slot; the padding copies through none
        inputs[monitor.SLOT] = jnp.asarray(slots + [-1] * (width - len(runs)), jnp.int32)
    keys = jax.vmap(jax.random.key)(jnp.asarray([r.seed for r in padded], jnp.uint32))
    inputs, keys = jax.device_put((inputs, keys), first.device)
    args = (inputs, keys, first.data)
    if first.start_path is not None:  # each trial continues from its own checkpoint
        states = [r.start_state() for r in runs]
        states += [states[0]] * (width - len(runs))
        args += (jax.tree.map(lambda *leaves: jnp.stack(leaves), *states),)
    start = time.perf_counter()
    try:
        out = jax.block_until_ready(program.run(*args))
    except Exception as error:  # e.g. out of memory: isolate failures trial by trial
        reason = f"the {width}-wide vmapped program failed: {one_line(error)}"
        log.warning("%s; running its %d trials one by one (group.mode=fallback)", reason, len(runs))
        alone = [guarded(one_by_one.run_one, r, speeds) for r in runs]
        return tagged(alone, "fallback", 1, reason)
    finally:
        for slot in slots:
            monitor.release(slot)
    seconds = time.perf_counter() - start
    speeds[width] = seconds / len(runs)
    host = jax.tree.map(np.asarray, {k: v for k, v in out.items() if k != "state"})
    if any(run.saves_state for run in runs):
        host["state"] = out["state"]
    results: list[Result] = [
        summarize(
            run,
            jax.tree.map(lambda v, i=i: v[i], host),
            seconds=seconds / len(runs),
            compile_seconds=program.compile_seconds / len(runs) if compiled else 0.0,
            flops=program.flops,
            compile_cache=program.cache if compiled else "process",
        )
        for i, run in enumerate(runs)
    ]
    if not slots:
        for run, metrics in zip(runs, results, strict=True):
            monitor.report_after(run, metrics)
    return tagged(results, "vmap", width)


def _prefetch(
    groups: dict[GroupKey, list[int]], prepared: dict[int, PreparedRun], mode: str, cap: int
) -> None:
    """Starts compiling every program the batch will run on, in the background.

    The distinct programs of a batch compile side by side (one per core at
    most: ``ProgramCache``) while the first trials wait for theirs or train;
    each trial then finds its program compiled, or compiling.
    """
    for (_, _, resume, monitored), indices in groups.items():
        first = prepared[indices[0]]
        threads = one_by_one.concurrency(first.device, len(indices)) > 1
        if mode != "vmap":
            compiled.prefetch_program(first.spec, first.data, first.device, monitored=monitored)
        if mode == "vmap" or (mode == "auto" and not threads and len(indices) > 1):
            for start in range(0, len(indices), cap):
                width = vmap_width(len(indices[start : start + cap]))
                if width > 1:
                    compiled.prefetch_program(
                        first.spec, first.data, first.device, width, resume, monitored
                    )


def _log_programs(groups: dict[GroupKey, list[int]], prepared: dict[int, PreparedRun],
                  results: list[Result | None]) -> None:  # fmt: skip
    """One line per program: its trials, their compile and training time, the estimate."""
    for indices in groups.values():
        done = [results[i] for i in indices if isinstance(results[i], dict)]
        estimates = [prepared[i].estimate for i in indices]
        estimate = (
            f" (estimated {sum(e for e in estimates if e is not None):.1f} s)"
            if any(e is not None for e in estimates)
            else ""
        )
        log.info(
            "program %s: %d trials, compile %.1f s, training %.1f s%s",
            prepared[indices[0]].program_label,
            len(indices),
            sum(r["compile_seconds"] for r in done),  # type: ignore[index]
            sum(r["train_seconds"] for r in done),  # type: ignore[index]
            estimate,
        )


def train_many(
    cfgs: Sequence[Any],
    *,
    mode: str = "auto",
    max_group_size: int | None = None,
    channels: Sequence[Any] | None = None,
    while_training: Callable[[], None] | None = None,
) -> list[Result]:
    """Trains every config; returns, in order, its metrics or the exception it raised.

    A config that fails validation fails alone; so does a trial that diverges
    inside a vmapped group (its metrics are NaN, the others are unaffected).
    Trials are grouped by program (an envelope: docs/structural.md), and every
    program of the batch starts compiling at once. ``channels`` are the trials'
    sweep channels (``hpfw.report``), one per config or None: each trial
    reports its epochs, and with a pruner may stop early (in a vmapped group a
    pruned trial is frozen: its lane idles to the end of the program, as a
    diverged one does). ``while_training`` is called once in this thread:
    while the trials train side by side (``one_by_one.run_side_by_side``), else after
    they have trained.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    cap = min(max_group_size or MAX_GROUP, MAX_GROUP)
    results: list[Result | None] = [None] * len(cfgs)
    # Trials share a program when their program spec, device, start and monitoring agree.
    groups: dict[GroupKey, list[int]] = {}
    prepared: dict[int, PreparedRun] = {}
    for i, cfg in enumerate(cfgs):
        try:
            prepared[i] = prepare(cfg)
        except Exception as error:
            results[i] = error
            continue
        run = prepared[i]
        run.channel = channels[i] if channels is not None else None
        group_key = (
            run.spec.program,
            str(run.device),
            run.start_path is not None,
            run.monitored,
        )
        groups.setdefault(group_key, []).append(i)
    _prefetch(groups, prepared, mode, cap)

    side_by_side: list[int] = []  # on a CPU: every group's trials in one pool of threads
    for group_key, indices in groups.items():
        speeds = _speeds.setdefault(group_key, {})
        device = prepared[indices[0]].device
        # On a CPU, trials side by side in threads beat vmapped programs (measured:
        # docs/benchmarks.md), so auto mode measures vmap widths on accelerators only.
        threads = one_by_one.concurrency(device, len(indices)) > 1
        if threads and mode != "vmap":
            side_by_side += indices
            continue
        if mode == "auto" and not threads and len(indices) > 1 and "sequential" not in speeds:
            first = indices[0]  # measure one trial on its own first
            (results[first],) = tagged(
                [guarded(one_by_one.run_one, prepared[first], speeds)], "sequential", 1
            )
        todo = [i for i in indices if results[i] is None]
        for start in range(0, len(todo), cap):
            chunk = todo[start : start + cap]
            runs = [prepared[i] for i in chunk]
            width = vmap_width(len(chunk))
            if mode == "vmap":
                vmap = True
            elif mode == "sequential" or len(chunk) == 1 or threads:
                vmap = False
            else:  # auto: a width not measured yet is tried once
                vmap = speeds.get(width, 0.0) < speeds.get("sequential", math.inf)
            if vmap:
                outcome = _run_vmapped(runs, width, speeds)
            else:
                outcome = one_by_one.run_side_by_side(runs, speeds)
            for i, result in zip(chunk, outcome, strict=True):
                results[i] = result
    if side_by_side:
        runs = [prepared[i] for i in side_by_side]
        speeds = _speeds.setdefault(next(iter(groups)), {})
        outcome = one_by_one.run_side_by_side(runs, speeds, while_training)
        for i, result in zip(side_by_side, outcome, strict=True):
            results[i] = result
    elif while_training is not None:
        while_training()
    _log_programs(groups, prepared, results)
    return results  # type: ignore[return-value]
