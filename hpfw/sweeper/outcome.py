"""How a trial ended: its state, objective value and metrics, from what the task returned."""

from __future__ import annotations

import math
import traceback as tb
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpfw.search import TrialState
from hpfw.sweeper.journal import write_traceback
from hpfw.values import is_number

DEFAULT_KEY = "objective"  # the key read from a returned mapping when none is configured


@dataclass
class Outcome:
    """A finished trial: ``value`` is None unless it completed with a finite objective."""

    state: TrialState
    value: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None  # path of the traceback file, relative to the sweep dir
    stops_sweep: bool = False  # a configuration error of the whole sweep, not of this trial
    # The same error whatever the swept values (a configuration error no swept key
    # touches): the sweep stops if no trial has completed yet, rather than repeat it.
    same_for_every_trial: bool = False


def from_result(
    result: Any,
    objective: str | None,
    key_name: str = "hydra.sweeper.objective",
    needs_value: bool = True,
) -> Outcome:
    """The outcome of a task that returned ``result``: a number or a mapping of numbers.

    A mapping supplies every numeric entry as a metric and the ``objective``
    key (default ``"objective"``) as the value. When the strategy needs no
    values (``needs_value=False``: grid, random), a result without a number
    (None, as most Hydra task functions return, any other object, or a
    mapping when no ``objective`` key was configured) is a complete trial
    without a value. Otherwise a mapping without that key is a configuration
    error of the whole sweep (``stops_sweep``), and any other result that is
    not a number fails the trial, and stops the sweep while nothing has
    completed; both messages name the setting ``key_name``.
    """
    metrics: dict[str, Any] = {}
    if isinstance(result, Mapping):
        metrics = {str(k): float(v) for k, v in result.items() if is_number(v)}
        key = objective or DEFAULT_KEY
        if key not in result:
            if not needs_value and objective is None:  # no key asked for: none expected
                return Outcome(TrialState.complete, None, metrics)
            error = (
                f"the job returned a mapping without the objective key '{key}' "
                f"(keys: {', '.join(map(str, result))}); set {key_name}"
            )
            return Outcome(TrialState.failed, None, metrics, error, stops_sweep=True)
        result = result[key]
    if not is_number(result):
        if not needs_value:
            return Outcome(TrialState.complete, None, metrics)
        return Outcome(
            TrialState.failed,
            None,
            metrics,
            f"the job returned {_shown(result)} ({type(result).__name__}), not a number, and "
            f"this strategy learns from values: return the objective, or a mapping holding "
            f"the key that {key_name} names",
            same_for_every_trial=True,
        )
    value = float(result)
    if not math.isfinite(value):
        return Outcome(TrialState.diverged, None, metrics, f"the objective is {value}")
    return Outcome(TrialState.complete, value, metrics)


def _shown(result: Any) -> str:
    text = repr(result)
    return text if len(text) <= 60 else text[:57] + "..."


def from_error(error: BaseException, sweep_dir: Path, trial_id: int) -> Outcome:
    """The outcome of a task that raised ``error``; its traceback goes to a file."""
    text = "".join(tb.format_exception(error))
    return from_traceback(f"{type(error).__name__}: {error}", text, sweep_dir, trial_id)


def from_traceback(message: str, text: str, sweep_dir: Path, trial_id: int) -> Outcome:
    """A failed trial: the first line of ``message`` as its error, ``text`` in a file."""
    path = write_traceback(sweep_dir, trial_id, text)
    return Outcome(TrialState.failed, None, {}, message.splitlines()[0], path)
