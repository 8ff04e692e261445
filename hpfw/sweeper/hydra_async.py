"""Launching Hydra jobs from several driver threads at once (asynchronous sweeps).

An asynchronous sweep calls ``launcher.launch([job])`` from ``concurrent_trials``
threads. Checked launcher by launcher (tests/test_async.py runs each):

- joblib: each call is its own ``joblib.Parallel``; loky hands every call the
  same reusable executor (the arguments are equal), whose ``submit`` is
  thread-safe, so jobs overlap in the worker processes.
- submitit (local and SLURM): each call builds its own executor and job
  folder and waits on its own job.
- ray: each call submits Ray tasks and waits with ``ray.get``, both
  thread-safe; but each call also starts Ray if it is not running, and two
  threads doing that at once would start it twice, so Ray is started once
  before the launches overlap (``start_runtime``), as the launcher would, in
  the main thread: started from a driver thread, it kept the process alive
  ~17 s after the sweep had ended.
- hpfw's batched launcher: trains hpfw's trials side by side, and serialises
  the per-job part (config, working directory, log files) itself; any other
  task function runs in this process, one job at a time.
- the basic launcher runs the job in this process, where Hydra's job config,
  the working directory and logging are process-wide: one trial at a time.

The ray and joblib launchers compose each job's config in the calling thread
or pickle the config loader; Hydra's config loader is not documented as
thread-safe, so it is wrapped to serialise its calls (``SerialConfigLoader``).
"""

from __future__ import annotations

import threading
from typing import Any

# Launchers that run each job in this very process, one at a time.
IN_PROCESS_SERIAL = ("hydra._internal.core_plugins.basic_launcher.BasicLauncher",)
RAY = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"


def _name(launcher: Any) -> str:
    cls = type(launcher)
    return f"{cls.__module__}.{cls.__qualname__}"


def max_concurrent(launcher: Any) -> int | None:
    """How many launches of ``launcher`` may overlap (None: as many as asked).

    A launcher may say so itself with a ``max_concurrent_launches()`` method
    (hpfw's batched launcher does: one, for a task function it cannot train
    in groups, whose jobs then run in this process one by one).
    """
    own = getattr(launcher, "max_concurrent_launches", None)
    if callable(own):
        return own()
    return 1 if _name(launcher) in IN_PROCESS_SERIAL else None


def start_runtime(launcher: Any) -> None:
    """Starts what the launcher's first ``launch`` would start, before launches overlap."""
    if _name(launcher) == RAY:
        from hydra_plugins.hydra_ray_launcher._launcher_util import start_ray

        # What the Ray launcher's launch() does first (hydra_ray_launcher/_core.py).
        launcher.ray_cfg.init.setdefault("object_store_memory", 78643200)
        start_ray(launcher.ray_cfg.init)


class SerialConfigLoader:
    """A Hydra config loader whose calls run one at a time; pickles as the loader it wraps."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def serial(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return serial

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker process gets the plain loader: it is alone there.
        return (_identity, (self._inner,))


def _identity(value: Any) -> Any:
    return value
