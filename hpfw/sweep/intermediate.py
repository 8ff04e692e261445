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

from hpfw.sweep import rungs
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
