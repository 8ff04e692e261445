"""A sweep's best trial by the GP's posterior mean (``hydra.sweeper.best_by=posterior``).

The reports (best.yaml, the summary, ``hpfw.load(dir).best``) are drawn from
the journal alone, so they cannot ask the sweep's live strategy. Instead this
module makes a ``BayesStrategy`` with the sweep's seed and options, tells it
the journal's completed trials and returns its ``best``: the same code path as
``create_strategy("bayes", space, best_by="posterior").best`` in Python. The
model is fitted afresh for each set of completed trials (not warm-started from
the last report's fit), so the sweep's own best.yaml and a later ``hpfw report``
or ``hpfw.load`` in another process name the same trial; the answer is kept
until the completed trials change, so the reports and the progress line of one
batch share one fit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from hpfw.search.space import from_json
from hpfw.search.strategy import Trial

Record = dict[str, Any]
_KEPT = 8  # answers kept (a process reports on one sweep or a few)
_answers: dict[str, int | None] = {}  # (sweep, completed trials) -> the best trial's id
_lock = threading.Lock()  # the report writer's thread and the sweep loop both ask


def posterior_best(header: Mapping[str, Any], completed: Sequence[Record]) -> Record | None:
    """The record in ``completed`` with the lowest posterior mean (in the sweep's direction).

    ``completed`` are complete trials with finite values. ``None`` when the
    model cannot judge (fewer than three trials, or a space the journal's
    header does not describe); the caller then ranks by observed value.
    """
    try:
        space = {name: from_json(spec) for name, spec in (header.get("space") or {}).items()}
    except (KeyError, TypeError, ValueError):
        return None
    records = [r for r in completed if set(space) <= set(r.get("params") or {})]
    if not space or len(records) < 3:
        return None
    sweep = [header.get("created"), header.get("command"), header.get("seed"), header.get("space")]
    key = json.dumps([sweep, sorted((r["id"], r["value"]) for r in records)], default=str)
    with _lock:  # one fit for the reports and the progress line of a batch
        if key not in _answers:
            if len(_answers) >= _KEPT:
                _answers.pop(next(iter(_answers)))
            _answers[key] = _fit_best(header, space, records)
        best = _answers[key]
    return next((r for r in records if r["id"] == best), None)


def _fit_best(header: Mapping[str, Any], space: dict, records: Sequence[Record]) -> int | None:
    """The id of the record ``BayesStrategy.best`` (best_by=posterior) picks, from a fresh fit."""
    from hpfw.search.bayes.strategy import BayesStrategy  # JAX: only when asked

    options = {**(header.get("options") or {}), "best_by": "posterior"}
    direction = header.get("direction") or "minimize"
    strategy = BayesStrategy(space, direction=direction, seed=header.get("seed"), **options)
    for r in sorted(records, key=lambda r: r["id"]):
        inactive = frozenset(r.get("inactive") or ())
        strategy.tell(Trial(r["id"], dict(r["params"]), inactive), float(r["value"]))
    best = strategy.best
    return best.id if best is not None else None
