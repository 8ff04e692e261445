"""The trainer's compiled programs in this process, and its datasets' arrays on the device.

A program is compiled ahead of time (``jit.lower().compile()``) once per
static signature, device, vmap width and variant (continuing a run or not,
returning the final state or not), and cached in ``PROGRAMS``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.data import SPLITS, Dataset
from hpfw.trainer import device as devices
from hpfw.trainer import monitor
from hpfw.trainer.flops import program_flops
from hpfw.trainer.programs import Program, ProgramCache
from hpfw.trainer.spec import DataArrays, StaticSpec, placeholder_hparams
from hpfw.trainer.trainer import abstract_state, make_train_fn


@dataclass
class CompiledProgram(Program):
    """A compiled training program, what it cost to build, and what one trial of it costs."""

    flops: float = 0.0  # per trial, from ``program_flops`` (0 when unavailable)
    cache: str = "off"  # the persistent cache: "hit" (loaded), "miss" (compiled), "off"


# Keyed by (spec, device, vmap width, with_state, resume, monitored).
PROGRAMS: ProgramCache[CompiledProgram] = ProgramCache()


def compiled_program(
    spec: StaticSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int = 0,
    *,
    with_state: bool = False,
    resume: bool = False,
    monitored: bool = False,
) -> CompiledProgram:
    """Returns the compiled program for ``spec`` on ``device``, compiling on first use.

    ``trials=0`` compiles the single-trial program; ``trials=n`` compiles a
    ``vmap`` over ``n`` trials (hparams, keys and start states batched, data
    shared). ``resume`` compiles the variant called as ``run(hparams, key,
    data, start)``; ``with_state`` the one that also returns the final state;
    ``monitored`` the one that reports every epoch and may be pruned (its
    hparams carry ``monitor_slot``; ``hpfw.trainer.monitor``).
    """
    key = (spec, str(device), trials, with_state, resume, monitored)
    return PROGRAMS.get(
        key, lambda: _compile(spec, data, device, trials, with_state, resume, monitored)
    )


def _compile(
    spec: StaticSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int,
    with_state: bool,
    resume: bool,
    monitored: bool = False,
) -> CompiledProgram:
    fn = make_train_fn(spec, with_state=with_state, monitored=monitored)
    hp = placeholder_hparams()
    if monitored:
        hp[monitor.SLOT] = jnp.asarray(0, jnp.int32)
    key = jax.random.key(0)
    args: tuple[Any, ...] = (hp, key, data)
    if resume:
        args += (abstract_state(spec),)
    if trials:
        fn = jax.vmap(fn, in_axes=(0, 0, None, 0) if resume else (0, 0, None))
        args = (
            {k: jnp.broadcast_to(v, (trials,)) for k, v in hp.items()},
            jax.random.split(key, trials),
            data,
            *(
                jax.tree.map(lambda a: jax.ShapeDtypeStruct((trials, *a.shape), a.dtype), s)
                for s in args[3:]
            ),
        )
    args = (*jax.device_put(args[:2], device), *args[2:])
    hits = devices.cache_hits()
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(*args)
    # XLA compiles without holding the GIL, so the FLOP count (Python tracing and
    # lowering, ~0.3 s) runs beside it instead of after it.
    with ThreadPoolExecutor(1) as pool:
        flops = pool.submit(program_flops, spec, data)
        compiled = lowered.compile(devices.compiler_options(device))
    seconds = time.perf_counter() - start
    cache = "hit" if devices.cache_hits() > hits else "miss" if devices.cache_enabled() else "off"
    if monitored:
        cache = "off"  # JAX never writes a program with a host callback to its disk cache
    return CompiledProgram(compiled, seconds, flops=flops.result(), cache=cache)


# Keyed by id(); the value keeps the dataset alive so its id cannot be reused.
_DEVICE_DATA: dict[tuple[int, str], tuple[Dataset, DataArrays]] = {}


def device_arrays(dataset: Dataset, device: jax.Device) -> DataArrays:
    """The dataset's six arrays on ``device``, transferred once per process."""
    cache_key = (id(dataset), str(device))
    if cache_key not in _DEVICE_DATA:
        host = {f"{a}_{s}": np.asarray(getattr(dataset, f"{a}_{s}")) for s in SPLITS for a in "xy"}
        _DEVICE_DATA[cache_key] = (dataset, jax.device_put(host, device))
    return _DEVICE_DATA[cache_key][1]
