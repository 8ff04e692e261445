"""The trainer's compiled programs in this process, and its datasets' arrays on the device.

A program is compiled ahead of time (``jit.lower().compile()``) once per
``ProgramSpec`` (an envelope of structural values: docs/structural.md),
device, vmap width and variant, and cached in ``PROGRAMS``. Every trial's
structural values are inputs, so one program serves every trial of its
envelope. Single-trial programs always take a start state (zeros for a fresh
trial), so fresh and continued trials share one; vmapped programs come in two
variants, with a start state per trial (``resume``) or none.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.data import SPLITS, Dataset
from hpfw.trainer import device as devices
from hpfw.trainer import monitor
from hpfw.trainer.flops import program_flops
from hpfw.trainer.programs import Program, ProgramCache
from hpfw.trainer.spec import DataArrays, ProgramSpec, StaticSpec, placeholder_inputs
from hpfw.trainer.state import zeros_like_abstract
from hpfw.trainer.trainer import abstract_state, make_train_fn

_LOWERING = threading.Lock()  # one program traced and lowered at a time (see _compile)


@dataclass
class CompiledProgram(Program):
    """A compiled training program, what it cost to build, and what it runs."""

    flops: float = 0.0  # per trial of the spec that compiled it (0 when unavailable)
    cache: str = "off"  # the persistent cache: "hit" (loaded), "miss" (compiled), "off"
    spec: ProgramSpec | None = None
    trials: int = 0  # vmap width; 0: the single-trial program
    takes_state: bool = True  # called as run(inputs, key, data, start)
    _zeros: Any = field(default=None, init=False, repr=False)
    _zeros_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def fresh_state(self, device: jax.Device) -> Any:
        """Zeros in the program's state shapes, on ``device``: the start of a fresh trial.

        Made once per program and reused (never donated), so a fresh trial
        transfers no state.
        """
        with self._zeros_lock:
            if self._zeros is None:
                assert self.spec is not None
                self._zeros = jax.device_put(zeros_like_abstract(abstract_state(self.spec)), device)
            return self._zeros


# Keyed by (program spec, device, vmap width, variant, monitored).
PROGRAMS: ProgramCache[CompiledProgram] = ProgramCache()


def program_key(
    spec: StaticSpec | ProgramSpec,
    device: jax.Device,
    trials: int = 0,
    resume: bool = False,
    monitored: bool = False,
) -> tuple[Any, ...]:
    program = spec.program if isinstance(spec, StaticSpec) else spec
    return (program, str(device), trials, bool(resume) if trials else True, bool(monitored))


def compiled_program(
    spec: StaticSpec | ProgramSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int = 0,
    *,
    with_state: bool = False,
    resume: bool = False,
    monitored: bool = False,
) -> CompiledProgram:
    """Returns the compiled program for ``spec``'s program on ``device``, compiling on first use.

    ``trials=0`` compiles the single-trial program, called as ``run(inputs,
    key, data, start)``; ``trials=n`` a ``vmap`` over ``n`` trials (inputs,
    keys and, with ``resume``, start states batched; data shared). Every
    program returns the final state (``with_state`` is accepted for callers
    that ask for it). ``monitored`` compiles the variant that reports every
    epoch and may be pruned (its inputs carry ``monitor_slot``;
    ``hpfw.trainer.monitor``).
    """
    del with_state
    key = program_key(spec, device, trials, resume, monitored)
    return PROGRAMS.get(key, lambda: _compile(spec, data, device, trials, key[3], monitored))


def prefetch_program(
    spec: StaticSpec | ProgramSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int = 0,
    resume: bool = False,
    monitored: bool = False,
) -> None:
    """Starts compiling ``spec``'s program in the background (``compiled_program`` then waits)."""
    key = program_key(spec, device, trials, resume, monitored)
    PROGRAMS.prefetch(key, lambda: _compile(spec, data, device, trials, key[3], monitored))


def _compile(
    spec: StaticSpec | ProgramSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int,
    takes_state: bool,
    monitored: bool = False,
) -> CompiledProgram:
    program = spec.program if isinstance(spec, StaticSpec) else spec
    fn = make_train_fn(program, with_state=True, monitored=monitored)
    inputs = placeholder_inputs()
    if monitored:
        inputs[monitor.SLOT] = jnp.asarray(0, jnp.int32)
    key = jax.random.key(0)
    args: tuple[Any, ...] = (inputs, key, data)
    if takes_state:
        args += (abstract_state(program),)
    if trials:
        fn = jax.vmap(fn, in_axes=(0, 0, None, 0) if takes_state else (0, 0, None))
        args = (
            {k: jnp.broadcast_to(v, (trials,)) for k, v in inputs.items()},
            jax.random.split(key, trials),
            data,
            *(
                jax.tree.map(lambda a: jax.ShapeDtypeStruct((trials, *a.shape), a.dtype), s)
                for s in args[3:]
            ),
        )
    args = (*jax.device_put(args[:2], device), *args[2:])
    hits = devices.thread_cache_hits()
    start = time.perf_counter()
    # Tracing and lowering are Python, under the GIL: two programs lowered at once
    # would both reach XLA late, so one lowers at a time and the first compiles
    # (without the GIL) while the next lowers.
    with _LOWERING:
        lowered = jax.jit(fn).lower(*args)
    # XLA compiles without holding the GIL, so the FLOP count (Python tracing and
    # lowering, ~0.3 s) runs beside it instead of after it.
    with ThreadPoolExecutor(1) as pool:
        flops = pool.submit(_flops, spec, data)
        compiled = lowered.compile(devices.compiler_options(device))
    seconds = time.perf_counter() - start
    hit = devices.thread_cache_hits() > hits
    cache = "hit" if hit else "miss" if devices.cache_enabled() else "off"
    if monitored:
        cache = "off"  # JAX never writes a program with a host callback to its disk cache
    return CompiledProgram(
        compiled,
        seconds,
        flops=flops.result(),
        cache=cache,
        spec=program,
        trials=trials,
        takes_state=takes_state,
    )


def _flops(spec: StaticSpec | ProgramSpec, data: DataArrays) -> float:
    # Only a trial on its own program reports the program's count (``run.summarize``);
    # an envelope's trials count their own sizes. So an envelope skips the count,
    # which would trace and lower a second program (~1 s under the GIL) while the
    # batch's next program lowers.
    if not isinstance(spec, StaticSpec) or spec.program != spec.dedicated:
        return 0.0
    try:  # a fresh trial's: a continued one shares the program but trains fewer epochs
        return program_flops(dataclasses.replace(spec, start_epoch=0), data)
    except Exception:  # a count is a nicety; never fail a compile over it
        return 0.0


# Keyed by id(); the value keeps the dataset alive so its id cannot be reused.
_DEVICE_DATA: dict[tuple[int, str], tuple[Dataset, DataArrays]] = {}


def device_arrays(dataset: Dataset, device: jax.Device) -> DataArrays:
    """The dataset's six arrays on ``device``, transferred once per process."""
    cache_key = (id(dataset), str(device))
    if cache_key not in _DEVICE_DATA:
        host = {f"{a}_{s}": np.asarray(getattr(dataset, f"{a}_{s}")) for s in SPLITS for a in "xy"}
        _DEVICE_DATA[cache_key] = (dataset, jax.device_put(host, device))
    return _DEVICE_DATA[cache_key][1]
