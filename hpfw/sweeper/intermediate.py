"""A trial's intermediate values (what it reported with ``hpfw.report``), for every reader.

A finished trial's journal record holds them as ``"intermediate": [[step,
value], ...]`` (``null`` for NaN) and any other per-step numbers as
``"intermediate_metrics": {name: [[step, value], ...]}``; a running trial's
are still only in its channel file, ``<sweep dir>/intermediate/<job>.jsonl``.
``curve`` reads either, so reports, ``curves.png`` and ``hpfw.load`` agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

Point = tuple[int, float | None]


def _points(pairs: Iterable[Any]) -> list[Point]:
    found = []
    for pair in pairs:
        step, value = pair
        number = float(value) if isinstance(value, (int, float)) else None
        found.append((int(step), None if number is None or math.isnan(number) else number))
    return sorted(found)


def curve(record: Mapping[str, Any], sweep_dir: str | Path | None = None) -> list[Point]:
    """``[(step, value), ...]`` the trial reported, by step; ``[]`` if it reported nothing.

    A running trial's values are read from its channel file when ``sweep_dir`` is given.
    """
    if "intermediate" in record:
        return _points(record["intermediate"] or ())
    if sweep_dir is not None and record.get("state") == "running" and "job" in record:
        from hpfw.pruning.channel import read_reports

        return _points(read_reports(sweep_dir, int(record["job"])).values.items())
    return []


def metric_curves(
    record: Mapping[str, Any], sweep_dir: str | Path | None = None
) -> dict[str, list[Point]]:
    """The other numbers reported per step: ``{name: [(step, value), ...]}``."""
    if "intermediate_metrics" in record:
        return {k: _points(v) for k, v in (record["intermediate_metrics"] or {}).items()}
    if sweep_dir is not None and record.get("state") == "running" and "job" in record:
        from hpfw.pruning.channel import read_reports

        found = read_reports(sweep_dir, int(record["job"])).metrics
        return {k: _points(v.items()) for k, v in found.items()}
    return {}


def curves(
    records: Iterable[Mapping[str, Any]], sweep_dir: str | Path | None = None
) -> dict[int, list[Point]]:
    """Every trial's curve by id, for the trials that reported something."""
    found = {}
    for record in records:
        points = curve(record, sweep_dir)
        if points:
            found[int(record["id"])] = points
    return found
