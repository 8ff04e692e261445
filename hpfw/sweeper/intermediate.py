"""A trial's intermediate values (step -> value), wherever the sweep keeps them.

One reader for the report, the Optuna export and the trackers, so that a new
source is added here once: a record's own ``intermediate`` mapping (values an
app reports per step, for pruning, once the journal holds them) comes first,
then the per-epoch curve hpfw's trainer writes to the job's ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpfw.sweeper import rungs
from hpfw.values import is_finite

Curve = tuple[str, dict[int, float]]  # what the values measure, and step -> value


def intermediate_values(sweep_dir: Path, trial: Mapping[str, Any], objective: str) -> Curve | None:
    """The trial's intermediate values and their name, or ``None`` when it has none.

    ``objective`` names values taken from the journal record itself; the
    trainer's curve carries its own metric name (e.g. ``val_accuracy``).
    """
    own = trial.get("intermediate")
    if isinstance(own, Mapping) and own:
        steps = {}
        for step, value in own.items():
            try:
                key = int(step)  # JSON object keys are strings
            except (TypeError, ValueError):
                continue
            if is_finite(value):
                steps[key] = float(value)
        if steps:
            return objective, dict(sorted(steps.items()))
    curve = rungs.epoch_curve(sweep_dir, dict(trial))
    if curve is None:
        return None
    epochs, values, name = curve
    return name, dict(zip(epochs, values, strict=True))


def epoch_series(job_dir: Path) -> dict[str, dict[int, float]]:
    """Every per-epoch metric in the job's ``metrics.json`` (name -> epoch -> value).

    hpfw's trainer writes ``epochs: {epoch: [...], train_loss: [...], ...}``;
    other apps write none, and get an empty mapping.
    """
    import json

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
