"""A sweep's best trial by the GP's posterior mean (``hydra.sweeper.best_by=posterior``).

The reports (best.yaml, the summary, ``hpfw.load(dir).best``) are drawn from
the journal alone, so they cannot ask the sweep's live strategy. Instead this
module keeps a ``BayesStrategy`` per sweep, tells it the journal's completed
trials and returns its ``best``: the same code path as
``create_strategy("bayes", space, best_by="posterior").best`` in Python. It is
kept between calls and told only the trials it has not seen, so each report
after a batch costs a warm-started refit, not a fresh one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from hpfw.search.space import from_json
from hpfw.search.strategy import Trial

Record = dict[str, Any]
_KEPT = 4  # sweeps whose strategies are kept (a process reports on one or a few)
_models: dict[str, tuple[Any, dict[int, float]]] = {}  # sweep key -> strategy, told values
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
    key = json.dumps(
        [header.get("created"), header.get("command"), header.get("seed"), header.get("space")],
        default=str,
    )
    with _lock:
        strategy, told = _model(key, header, space, records)
        for r in records:
            if r["id"] not in told:
                inactive = frozenset(r.get("inactive") or ())
                strategy.tell(Trial(r["id"], dict(r["params"]), inactive), float(r["value"]))
                told[r["id"]] = r["value"]
        best = strategy.best
    by_id = {r["id"]: r for r in records}
    return by_id.get(best.id) if best is not None else None


def _model(
    key: str, header: Mapping[str, Any], space: dict, records: Sequence[Record]
) -> tuple[Any, dict[int, float]]:
    """The kept strategy for ``key``, or a new one when it is new or a told value changed."""
    from hpfw.search.bayes.strategy import BayesStrategy  # JAX: only when asked

    kept = _models.get(key)
    if kept is not None and all(kept[1].get(r["id"], r["value"]) == r["value"] for r in records):
        return kept
    options = dict(header.get("options") or {})
    strategy = BayesStrategy(
        space, direction=header.get("direction") or "minimize", seed=header.get("seed"), **options
    )
    if len(_models) >= _KEPT:
        _models.pop(next(iter(_models)))
    _models[key] = (strategy, {})
    return _models[key]
