"""Device selection and JAX's persistent compilation cache."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from hpfw.errors import ConfigError

DEVICE_KINDS = ("auto", "cpu", "gpu", "tpu")


def select_device(kind: str) -> jax.Device:
    """Returns the device a run should use; ``auto`` prefers a GPU or TPU.

    JAX's default backend is already the best one it sees (TPU or GPU before the
    CPU), so ``auto`` takes its first device.
    """
    if kind == "auto":
        return jax.devices()[0]
    if kind not in DEVICE_KINDS:
        raise ConfigError("trainer.device", f"got {kind!r}; allowed: {', '.join(DEVICE_KINDS)}")
    try:
        return jax.devices(kind)[0]
    except RuntimeError:
        seen = sorted({d.platform for d in jax.devices()})
        raise ConfigError(
            "trainer.device",
            f"JAX sees no {kind} device here (it sees: {', '.join(seen)}); "
            "use trainer.device=auto or one of those",
        ) from None


def describe(device: jax.Device) -> str:
    """A short human-readable name such as ``cpu:0 (cpu)`` or ``cuda:0 (NVIDIA H100)``."""
    return f"{device.platform}:{device.id} ({device.device_kind})"


_cache_dir: str | None = None


def enable_compilation_cache(directory: str | None) -> str | None:
    """Turns on JAX's persistent compilation cache in ``directory`` (None: leave it off).

    Every compile is cached (no minimum compile time), so a new process running
    the same static signature loads the program instead of compiling it.
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
