"""Device selection, one device per concurrent process, and JAX's persistent compilation cache."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import IO

import jax

from hpfw.errors import ConfigError
from hpfw.process import allocate_gpu_memory_on_demand

DEVICE_KINDS = ("auto", "cpu", "gpu", "tpu")

log = logging.getLogger("hpfw")


def select_device(kind: str) -> jax.Device:
    """Returns the device a run should use; ``auto`` prefers a GPU or TPU.

    JAX's default backend is already the best one it sees (TPU or GPU before the
    CPU), so ``auto`` looks there. When the process sees several devices of the
    kind (several GPUs on a node, and a launcher that did not give each worker
    its own through ``CUDA_VISIBLE_DEVICES``), each process claims a different
    one: see ``claim_slot``.
    """
    if kind not in DEVICE_KINDS:
        raise ConfigError("trainer.device", f"got {kind!r}; allowed: {', '.join(DEVICE_KINDS)}")
    # The first jax.devices() call of a process starts its backends.
    allocate_gpu_memory_on_demand()
    if kind == "auto":
        candidates = jax.devices()
    else:
        try:
            candidates = jax.devices(kind)
        except RuntimeError:
            seen = sorted({d.platform for d in jax.devices()})
            raise ConfigError(
                "trainer.device",
                f"JAX sees no {kind} device here (it sees: {', '.join(seen)}); "
                "use trainer.device=auto or one of those",
            ) from None
    if len(candidates) == 1:
        return candidates[0]
    return candidates[claim_slot(candidates[0].platform, len(candidates))]


# At LLVM optimisation level 2 instead of XLA:CPU's default 3, hpfw's MLP, CNN,
# transformer and LM programs compile in 0.6-0.8x the time and run no slower
# (benchmarks/bench_compile.py, docs/benchmarks.md). Other backends keep their
# defaults.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}


def compiler_options(device: jax.Device) -> dict[str, int] | None:
    """XLA options for compiling hpfw's programs for ``device`` (``None``: XLA's defaults)."""
    return dict(CPU_COMPILER_OPTIONS) if device.platform == "cpu" else None


def describe(device: jax.Device) -> str:
    """A short human-readable name such as ``cpu:0 (cpu)`` or ``cuda:0 (NVIDIA H100)``."""
    return f"{device.platform}:{device.id} ({device.device_kind})"


# --- one device per process ---------------------------------------------------

_claims: dict[str, tuple[int, IO[bytes] | None]] = {}


def lock_dir() -> Path:
    """Where processes on this node record which device they hold (node-local)."""
    default = Path(tempfile.gettempdir()) / f"hpfw-{os.getuid()}" / "devices"
    return Path(os.environ.get("HPFW_DEVICE_LOCK_DIR", default))


def claim_slot(platform: str, count: int) -> int:
    """The index of the device this process uses among ``count`` of ``platform``.

    The first call takes an exclusive ``flock`` on the first free
    ``<lock_dir>/<platform>-<i>.lock`` and keeps it for the life of the process
    (the kernel drops it when the process ends, even when it is killed), so
    concurrent workers on a node each get their own device, whichever launcher
    started them. With more processes than devices the rest share: they take
    ``pid % count`` and say so in the log. Hand-written because no library
    assigns devices to processes that do not know of each other.
    """
    if platform in _claims:
        return _claims[platform][0]
    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(directory / f"{platform}-{index}.lock", "wb")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _claims[platform] = (index, handle)
        return index
    index = os.getpid() % count
    log.warning(
        "all %d %s devices are held by other processes; sharing %s:%d",
        count,
        platform,
        platform,
        index,
    )
    _claims[platform] = (index, None)
    return index


# --- the persistent compilation cache -------------------------------------------

_cache_dir: str | None = None
_cache_events: Counter[str] = Counter()
# JAX records a cache event in the thread that compiles, so counting per thread
# tells each of several concurrent compiles whether the cache served it.
_thread_events = threading.local()


def _count_cache_event(event: str, **_: object) -> None:
    if event.startswith("/jax/compilation_cache/"):
        name = event.rsplit("/", 1)[1]
        _cache_events[name] += 1
        counts = getattr(_thread_events, "counts", None)
        if counts is None:
            counts = _thread_events.counts = Counter()
        counts[name] += 1


jax.monitoring.register_event_listener(_count_cache_event)


def cache_hits() -> int:
    """Programs this process loaded from the persistent compilation cache so far."""
    return _cache_events["cache_hits"]


def thread_cache_hits() -> int:
    """Programs this thread loaded from the persistent compilation cache so far."""
    counts = getattr(_thread_events, "counts", None)
    return counts["cache_hits"] if counts is not None else 0


def cache_enabled() -> bool:
    return _cache_dir is not None


def enable_compilation_cache(directory: str | None) -> str | None:
    """Turns on JAX's persistent compilation cache in ``directory`` (None: leave it off).

    Every compile is cached (no minimum compile time), so a new process running
    the same static signature loads the program instead of compiling it. The
    directory may be shared by every worker of a sweep (on a cluster, a network
    file system): JAX never overwrites an entry, and a reader that meets an
    entry still being written warns and compiles instead.
    """
    global _cache_dir
    if not directory:
        return None
    path = str(Path(os.path.expanduser(directory)).resolve())
    if path == _cache_dir:
        return path
    Path(path).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _cache_dir = path
    return path
