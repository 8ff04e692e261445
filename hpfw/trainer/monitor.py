"""The trainer's per-epoch reports (``hpfw.report``) and the prune decisions that stop a run.

In a sweep with a pruner, the compiled program calls back to Python after
every epoch (``jax.experimental.io_callback``) with that epoch's metrics. The
callback reports them through the trial's channel and returns
``should_prune()``; the program keeps the answer in its carry and skips the
remaining epochs, as it does after a divergence. A trial finds its channel
through an integer slot, a traced input, so one compiled program serves every
trial, side by side in threads or vmapped (a vmapped group calls back once per
trial; padding copies carry slot -1 and are ignored).

Without a pruner nothing can stop a run early, so the program has no callback
and the epochs are reported once it ends (``report_after``): a program with a
host callback is never written to JAX's persistent compilation cache, so a
new process compiles it again. Measured costs: docs/pruning.md.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("hpfw.trainer")

EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy")  # what the program has per epoch
SLOT = "monitor_slot"  # the hparams entry that carries a trial's slot


@dataclass
class EpochReporter:
    """One trial's channel and the metric it reports as its value (its objective).

    With several objectives (``objectives``, the sweep's, in order) it
    reports every one it has per epoch by name, so the pruner compares
    vectors: the epoch's validation metrics, and ``constants`` (the trial's
    ``params``, the same every epoch). ``train_seconds`` and ``flops`` have
    no per-epoch value here (the program's time and cost are known when it
    ends), so those objectives are left out of the per-epoch comparison.
    """

    channel: Any
    objective: str
    objectives: tuple[str, ...] = ()
    constants: dict[str, float] = field(default_factory=dict)

    def report(self, epoch: int, metrics: dict[str, float]) -> None:
        numbers = {**self.constants, **metrics}
        if len(self.objectives) > 1:
            # The sweep's objectives keep NaN (a diverged epoch); other numbers only when finite.
            kept = {k: v for k, v in numbers.items() if k in self.objectives or math.isfinite(v)}
            self.channel.report(epoch, kept)
            return
        others = {k: v for k, v in metrics.items() if k != self.objective and math.isfinite(v)}
        self.channel.report(epoch, metrics[self.objective], others)


_slots: dict[int, EpochReporter] = {}
_counter = itertools.count()
_lock = threading.Lock()


def register(reporter: EpochReporter) -> int:
    """A slot for ``reporter``, valid until ``release``."""
    with _lock:
        slot = next(_counter) % (2**31 - 1)
        _slots[slot] = reporter
        return slot


def release(slot: int | None) -> None:
    if slot is not None:
        with _lock:
            _slots.pop(slot, None)


def on_epoch(slot: Any, epoch: Any, stopped: Any, *values: Any) -> np.ndarray:
    """The program's callback after an epoch: report it, and say whether to stop now."""
    with _lock:
        reporter = _slots.get(int(slot))
    if reporter is None or bool(stopped):
        return np.asarray(False)
    try:
        metrics = {k: float(v) for k, v in zip(EPOCH_METRICS, values, strict=True)}
        reporter.report(int(epoch), metrics)
        return np.asarray(bool(reporter.channel.should_prune()))
    except Exception as error:  # reporting must never break the training program
        log.warning("could not report epoch %s: %s", int(epoch), error)
        return np.asarray(False)


def epoch_callback(slot: Any, epoch: Any, stopped: Any, metrics: tuple[Any, ...]) -> Any:
    """Inside the traced program: the callback, returning a traced bool (prune now)."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import io_callback

    result = jax.ShapeDtypeStruct((), jnp.bool_)
    return io_callback(on_epoch, result, slot, epoch, stopped, *metrics, ordered=False)


def reporter_for(run: Any) -> EpochReporter | None:
    """The reporter of a prepared run whose trial belongs to a sweep, if its objective has
    per-epoch values (val_loss, val_accuracy); else None."""
    channel = getattr(run, "channel", None)
    objective = str(getattr(run.cfg.objective, "value", run.cfg.objective))
    if channel is None or objective not in EPOCH_METRICS:
        return None
    objectives = tuple(getattr(channel, "sweep_objectives", dict)())
    if len(objectives) < 2:
        return EpochReporter(channel, objective)
    if objectives[0] not in (*EPOCH_METRICS, "params"):
        # The first objective is the reported value; reporting another metric in its place
        # would have the pruner compare it in the wrong direction. Nothing to report.
        return None
    constants: dict[str, float] = {}
    if "params" in objectives:
        from hpfw.trainer.flops import param_count  # JAX: only for a trainer's run

        constants["params"] = float(param_count(run.spec))
    return EpochReporter(channel, objective, objectives, constants)


def report_after(run: Any, metrics: dict[str, Any]) -> None:
    """Reports every epoch of a finished run (a run without a pruner)."""
    reporter = reporter_for(run)
    if reporter is None:
        return
    epochs = metrics.get("epochs") or {}
    try:
        for k, epoch in enumerate(epochs.get("epoch") or ()):
            values = {
                name: v
                if (v := (epochs.get(name) or [None] * (k + 1))[k]) is not None
                else math.nan
                for name in EPOCH_METRICS
            }
            if all(math.isnan(v) for v in values.values()):
                break  # diverged: nothing after this
            reporter.report(int(epoch), values)
    except Exception as error:
        log.warning("could not report the epochs: %s", error)
