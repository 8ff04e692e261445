"""``hydra.sweeper.constraints``: ``"<metric> <op> <number>"`` on a trial's returned metrics.

A small parser (one regular expression, no ``eval``: a sweep config must not
run code). A constraint's *slack* is how far the metric is on the wrong side
of its bound: ``value - bound`` for ``<=`` and ``<``, ``bound - value`` for
``>=`` and ``>``. A trial is feasible when every slack is <= 0 (< 0 for the
strict operators); the journal records the slacks, so a strategy can model
them (``bayes`` fits one GP per constraint: probability of feasibility).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OPERATORS = ("<=", ">=", "<", ">")
FORM = "'<metric> <op> <number>' with <op> one of <=, <, >=, > (e.g. 'params <= 1e5')"
_PATTERN = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w./-]*)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<bound>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class ConstraintError(ValueError):
    """A constraint that does not parse; the message is one line."""


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint: ``metric op bound``."""

    metric: str
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"

    def slack(self, value: float) -> float:
        """How far ``value`` is past the bound: > 0 violates, <= 0 satisfies (see ``holds``)."""
        return value - self.bound if self.op in ("<=", "<") else self.bound - value

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        slack = self.slack(value)
        return slack < 0 if self.op in ("<", ">") else slack <= 0


def parse(text: Any) -> Constraint:
    """``"params <= 1e5"`` as a ``Constraint``; a ``ConstraintError`` naming the allowed form."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConstraintError(f"got {text!r}; allowed: {FORM}")
    bound = float(match["bound"])
    if not math.isfinite(bound):
        raise ConstraintError(f"got {text!r}; the bound must be a finite number")
    return Constraint(match["metric"], match["op"], bound)


def parse_all(raw: Any, key: str) -> tuple[Constraint, ...]:
    """Every constraint of the setting ``key`` (a list of strings, or one string)."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, Sequence):
        raise ConstraintError(f"Invalid {key}: got {raw!r}; allowed: a list of {FORM}")
    found = []
    for k, item in enumerate(items):
        try:
            found.append(parse(item))
        except ConstraintError as error:
            raise ConstraintError(f"Invalid {key}[{k}]: {error}") from None
    return tuple(found)


def slacks(constraints: Sequence[Constraint], metrics: Mapping[str, Any]) -> dict[str, float]:
    """Each constraint's slack (by its text) from ``metrics``; a missing metric raises KeyError."""
    return {c.text: c.slack(float(metrics[c.metric])) for c in constraints}


def feasible(constraints: Sequence[Constraint], metrics: Mapping[str, Any]) -> bool:
    return all(c.holds(float(metrics[c.metric])) for c in constraints)
