"""A trial's intermediate values (step -> value), wherever the sweep keeps them.

One reader for the report, the Optuna export, the trackers, ``curves.png`` and
``hpfw.load``, so that a new source is added here once. A finished trial's
journal record holds what it reported with ``hpfw.report`` as
``"intermediate": [[step, value], ...]`` (``null`` for NaN) and its other
per-step numbers as ``"intermediate_metrics": {name: [[step, value], ...]}``;
a running trial's are still only in its channel file,
``<sweep dir>/intermediate/<job>.jsonl``. A trial that reported nothing may
still have the per-epoch curve hpfw's trainer writes to the job's
``metrics.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpfw.sweeper import rungs
from hpfw.values import is_finite

Point = tuple[int, float | None]
Curve = tuple[str, dict[int, float]]  # what the values measure, and step -> value


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
    own = record.get("intermediate")
    if isinstance(own, Mapping):  # {step: value}, as JSON writes a mapping's keys
        return _points(own.items())
    if own is not None:
        return _points(own)
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
    """Every trial's reported curve by id, for the trials that reported something."""
    found = {}
    for record in records:
        points = curve(record, sweep_dir)
        if points:
            found[int(record["id"])] = points
    return found


def intermediate_values(sweep_dir: Path, trial: Mapping[str, Any], objective: str) -> Curve | None:
    """The trial's intermediate values and their name, or ``None`` when it has none.

    What the trial reported (``objective`` names those) comes first, then the
    per-epoch curve of hpfw's trainer in ``metrics.json`` (which carries its
    own metric name, e.g. ``val_accuracy``).
    """
    own = {s: v for s, v in curve(trial, sweep_dir) if v is not None and is_finite(v)}
    if own:
        return objective, dict(sorted(own.items()))
    found = rungs.epoch_curve(sweep_dir, dict(trial))
    if found is None:
        return None
    epochs, values, name = found
    return name, dict(zip(epochs, values, strict=True))


def epoch_series(job_dir: Path) -> dict[str, dict[int, float]]:
    """Every per-epoch metric in the job's ``metrics.json`` (name -> epoch -> value).

    hpfw's trainer writes ``epochs: {epoch: [...], train_loss: [...], ...}``;
    other apps write none, and get an empty mapping.
    """
    try:
        data = json.loads((Path(job_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    epochs = data.get("epochs") if isinstance(data, dict) else None
    if not isinstance(epochs, dict):
        return {}
    series = {k: v for k, v in epochs.items() if k != "epoch" and isinstance(v, list)}
    numbers = epochs.get("epoch")
    out = {}
    for name, values in series.items():
        steps = numbers if isinstance(numbers, list) and len(numbers) == len(values) else None
        steps = steps or list(range(1, len(values) + 1))
        out[name] = {int(e): float(v) for e, v in zip(steps, values, strict=True) if is_finite(v)}
    return {k: v for k, v in out.items() if v}
