"""What a sweep optimises: one or several objectives and the constraints on a trial's metrics.

``hydra.sweeper.objectives`` maps metric -> ``minimize`` or ``maximize``
(``hpfw.sweep(objectives=...)`` in Python); the single ``objective`` /
``direction`` pair stays the shortcut for one. The first objective is the
sweep's ``objective`` (what ``value`` holds in the journal, what best.yaml's
top-level trial is best at); the others are read from the same returned
mapping. ``hydra.sweeper.constraints`` (``constraints.py``) mark trials
feasible or not; only feasible trials rank, make the Pareto front, or are best.

The journal header records both (``objectives``, ``constraints``), so a resumed
sweep and ``hpfw report`` read a trial as the sweep did; each finished record
gets ``values`` (objective -> value), and with constraints ``slacks`` and
``feasible``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hpfw.search import TrialState
from hpfw.sweeper.constraints import Constraint, ConstraintError, feasible, parse_all, slacks
from hpfw.sweeper.outcome import Outcome
from hpfw.sweeper.settings import DIRECTIONS, Names, SweepError

DEFAULT_KEY = "objective"


def check_objectives(raw: Any, names: Names) -> dict[str, str]:
    """``hydra.sweeper.objectives`` as an ordered metric -> direction mapping; one-line errors."""
    key = names("objectives")
    if not isinstance(raw, Mapping) or not raw:
        raise SweepError(
            f"Invalid {key}: got {raw!r}; allowed: a mapping of metric -> minimize|maximize, "
            "e.g. {val_accuracy: maximize, params: minimize}"
        )
    found: dict[str, str] = {}
    for metric, direction in raw.items():
        if not isinstance(metric, str) or not metric:
            raise SweepError(f"Invalid {key}: the metric {metric!r} is not a name")
        if direction not in DIRECTIONS:
            raise SweepError(
                f"Invalid {key}.{metric}: got {direction!r}; allowed: {' or '.join(DIRECTIONS)}"
            )
        found[metric] = str(direction)
    return found


def check_constraints(raw: Any, names: Names) -> tuple[Constraint, ...]:
    try:
        return parse_all(raw, names("constraints"))
    except ConstraintError as error:
        raise SweepError(str(error)) from None


@dataclass(frozen=True)
class Objectives:
    """The sweep's objectives (in order, each with its direction) and constraints."""

    names: tuple[str, ...]
    directions: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()
    setting: Names | None = None  # how messages name the settings

    @property
    def multi(self) -> bool:
        return len(self.names) > 1

    @classmethod
    def from_header(cls, header: Mapping[str, Any], setting: Names | None = None) -> Objectives:
        declared = header.get("objectives") or {
            header.get("objective") or DEFAULT_KEY: header.get("direction") or "minimize"
        }
        constraints = parse_all(header.get("constraints") or [], "constraints")
        return cls(tuple(declared), tuple(declared.values()), constraints, setting)

    def _key(self, name: str) -> str:
        return self.setting(name) if self.setting is not None else name

    def apply(self, outcome: Outcome) -> Outcome:
        """``outcome`` with every objective's value and the constraints' verdict.

        A completed trial without one of the objectives or constraint metrics
        stops the sweep (a configuration error, as a missing objective key is);
        a non-finite objective makes it diverged. Other outcomes pass unchanged.
        """
        if outcome.state != TrialState.complete or outcome.value is None:
            return outcome
        if not self.multi and not self.constraints:
            return replace(outcome, values={self.names[0]: outcome.value})
        metrics = outcome.metrics
        values = {self.names[0]: outcome.value}
        for name in self.names[1:]:
            if name not in metrics:
                return _missing(outcome, name, self._key("objectives"))
            if not math.isfinite(metrics[name]):
                error = f"the objective {name} is {metrics[name]}"
                return replace(outcome, state=TrialState.diverged, value=None, error=error)
            values[name] = float(metrics[name])
        for constraint in self.constraints:
            if constraint.metric not in metrics:
                return _missing(outcome, constraint.metric, self._key("constraints"))
        verdict = feasible(self.constraints, metrics)
        return replace(
            outcome, values=values, slacks=slacks(self.constraints, metrics), feasible=verdict
        )

    def annotate(self, record: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        """The finished journal ``record`` with the outcome's values and feasibility."""
        if outcome.values is not None:
            record["values"] = dict(outcome.values)
        if self.constraints and outcome.slacks is not None:
            record["slacks"] = {k: _finite(v) for k, v in outcome.slacks.items()}
            record["feasible"] = bool(outcome.feasible)
        return record

    def vector(self, record: Mapping[str, Any]) -> list[float] | None:
        """A record's objective values in order (their own directions), or None."""
        values = record.get("values")
        if values is None and not self.multi and record.get("value") is not None:
            return [float(record["value"])]
        if not isinstance(values, Mapping) or any(values.get(n) is None for n in self.names):
            return None
        return [float(values[n]) for n in self.names]


def _missing(outcome: Outcome, name: str, key: str) -> Outcome:
    keys = ", ".join(sorted(outcome.metrics)) or "none"
    error = f"the job returned no metric '{name}' that {key} names (numbers it returned: {keys})"
    return replace(outcome, state=TrialState.failed, value=None, error=error, stops_sweep=True)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def trial_values(record: Mapping[str, Any]) -> tuple[tuple[float, ...] | None, bool, tuple]:
    """What a strategy hears of a journal record: objective values, feasibility, slacks."""
    values = record.get("values")
    vector = tuple(float(v) for v in values.values()) if isinstance(values, Mapping) else None
    slacks = record.get("slacks") or {}
    slack = tuple(math.inf if v is None else float(v) for v in slacks.values())
    return vector, record.get("feasible", True) is not False, slack


def for_settings(objectives: Mapping[str, str], constraints: Sequence[str]) -> dict[str, Any]:
    """The header's ``objectives`` and ``constraints`` entries (null when not configured)."""
    return {
        "objectives": dict(objectives) if objectives else None,
        "constraints": [c.text for c in parse_all(constraints or [], "constraints")] or None,
    }
