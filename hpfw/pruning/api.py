"""``hpfw.report``, ``hpfw.should_prune`` and ``hpfw.TrialPruned``: what any training loop calls.

Inside a trial of an hpfw sweep, ``report(step, value)`` records an
intermediate value (the journal keeps them; the pruner compares them) and
``should_prune()`` asks the sweep's pruner whether to stop. Outside a sweep
both do nothing (``should_prune()`` is False), so a training script runs
unchanged on its own. The trial is found without any extra override: a Python
trial (``hpfw.sweep``) sets it for the call; a Hydra job finds it from
``hydra.sweep.dir`` and ``hydra.job.num``, which Hydra's ``run_job`` sets in
every launcher's workers (threads, joblib processes, submitit jobs, Ray tasks).
This module imports neither Hydra nor JAX.
"""

from __future__ import annotations

import operator
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from hpfw.values import is_number

_current: ContextVar[Any] = ContextVar("hpfw_trial_channel", default=None)
_channels: dict[tuple[Path, int], Any] = {}  # (sweep dir, job) -> TrialChannel, per process
_channels_lock = threading.Lock()


class TrialPruned(Exception):
    """Raise it to end the trial as ``pruned`` (after ``should_prune()``, or by your own rule)."""


def report(
    step: int, value: float | Mapping[str, float] | Sequence[float], **metrics: float
) -> None:
    """Records the trial's intermediate ``value`` (the objective so far) at ``step``.

    ``step`` is an integer that grows (an epoch, a number of steps);
    ``metrics`` are other numbers to keep for that step (a training loss).
    With several objectives ``value`` may hold them all: a mapping by name
    (it must hold the first) or a sequence in the objectives' order; a number
    is the first objective's, and the pruner then compares on it alone.
    A step reported twice keeps its first value. Outside a sweep: nothing.

    Example:
        >>> import hpfw
        >>> for epoch in range(1, 4):
        ...     hpfw.report(epoch, 1.0 / epoch, train_loss=0.5)
        ...     if hpfw.should_prune():
        ...         raise hpfw.TrialPruned()
    """
    try:
        index = operator.index(step)  # ints, and numpy's integer scalars
    except TypeError:
        index = -1
    if isinstance(step, bool) or index < 0:
        raise TypeError(f"hpfw.report: step must be an integer >= 0, got {step!r}")
    step = index
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str):
        numbers = list(value.values()) if isinstance(value, Mapping) else list(value)
        if not numbers or not all(is_number(v) or _is_scalar(v) for v in numbers):
            raise TypeError(f"hpfw.report: value must hold numbers, got {value!r}")
        value = (
            {str(k): float(v) for k, v in value.items()}
            if isinstance(value, Mapping)
            else [float(v) for v in numbers]
        )
    elif not is_number(value) and not _is_scalar(value):
        raise TypeError(
            f"hpfw.report: value must be a number, a mapping or a sequence of them, got {value!r}"
        )
    else:
        value = float(value)
    for name, number in metrics.items():
        if not is_number(number) and not _is_scalar(number):
            raise TypeError(f"hpfw.report: metric {name} must be a number, got {number!r}")
    channel = current_channel()
    if channel is not None:
        channel.report(step, value, {k: float(v) for k, v in metrics.items()})


def should_prune() -> bool:
    """Whether the sweep's pruner says to stop this trial now (False outside a sweep).

    Ask after ``report``. Once it has said yes, the trial ends as ``pruned``
    whether it then raises ``hpfw.TrialPruned`` or returns.
    """
    channel = current_channel()
    return bool(channel is not None and channel.should_prune())


def _is_scalar(value: Any) -> bool:
    # Numpy and JAX scalars (0-d arrays), without importing either.
    return getattr(value, "shape", None) == () and hasattr(value, "item")


def channel_for(sweep_dir: str | Path, job: int, trial: int | None = None) -> Any:
    """This process's channel of the trial launched as ``job`` in ``sweep_dir``."""
    from hpfw.pruning.channel import TrialChannel

    key = (Path(sweep_dir), int(job))
    with _channels_lock:
        channel = _channels.get(key)
        if channel is None:
            channel = _channels[key] = TrialChannel(key[0].resolve(), key[1], trial)
        return channel


@contextmanager
def trial_context(channel: Any) -> Iterator[None]:
    """Makes ``channel`` the current trial's for the ``with`` block (a Python trial's call)."""
    token = _current.set(channel)
    try:
        yield
    finally:
        _current.reset(token)


def current_channel() -> Any:
    """The running trial's channel, or None outside an hpfw sweep."""
    channel = _current.get()
    if channel is None:
        channel = _hydra_channel()
    if channel is None or (channel.resolved and not channel.active):
        return None
    return channel


def _hydra_channel() -> Any:
    """The channel of the Hydra job running now, if it is a job of an hpfw sweep."""
    module = sys.modules.get("hydra.core.hydra_config")
    if module is None:
        return None  # Hydra is not even loaded: not a Hydra job
    config = module.HydraConfig
    if not config.initialized():
        return None
    try:
        hydra = config.get()
        if str(getattr(hydra.mode, "name", hydra.mode)) != "MULTIRUN":
            return None
        num = hydra.job.get("num")
        sweep_dir = Path(str(hydra.sweep.dir))
        if not sweep_dir.is_absolute():
            # Relative to where the sweep started, not to a job that chdir'ed.
            sweep_dir = Path(str(hydra.runtime.cwd)) / sweep_dir
    except Exception:  # a partial Hydra config (a test, another tool): not a sweep job
        return None
    if not isinstance(num, int):
        return None
    return channel_for(sweep_dir, num)
