"""Multi-fidelity sweeps in the journal: rungs, configurations and their per-epoch curves.

A trial of ``sha`` or ``hyperband`` carries its lineage in ``info`` (``config``,
``bracket``, ``rung``, ``budget``); these functions group the journal's
records by it, for the rungs table (``summary``) and ``rungs.png`` (``plots``).
Records without a budget are ignored, so for other sweeps every function here
returns nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpfw.values import is_finite

RUNGS_FILE = "rungs.png"


def budget(trial: dict[str, Any]) -> int | None:
    """The trial's budget, or ``None`` for a trial of a single-fidelity sweep."""
    value = (trial.get("info") or {}).get("budget")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_multi_fidelity(trials: Sequence[dict[str, Any]]) -> bool:
    return any(budget(t) is not None for t in trials)


def configs(trials: Sequence[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """``(bracket, config) -> its trials by rung``."""
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for trial in trials:
        info = trial.get("info") or {}
        if budget(trial) is None or not isinstance(info.get("config"), int):
            continue
        groups.setdefault((int(info.get("bracket") or 0), info["config"]), []).append(trial)
    for runs in groups.values():
        runs.sort(key=lambda t: (t["info"].get("rung") or 0, t["id"]))
    return groups


def rung_rows(header: dict[str, Any], trials: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (bracket, rung): budget, trials run, completed, promoted on, best value."""
    maximize = header.get("direction") == "maximize"
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    configs_at: dict[tuple[int, int], set[int]] = {}
    for trial in trials:
        info = trial.get("info") or {}
        if budget(trial) is None:
            continue
        key = (int(info.get("bracket") or 0), int(info.get("rung") or 0))
        row = rows.setdefault(
            key,
            {"bracket": key[0], "rung": key[1], "budget": info["budget"], "trials": 0},
        )
        row["trials"] += 1
        row.setdefault("complete", 0)
        row.setdefault("best", None)
        configs_at.setdefault(key, set()).add(info.get("config"))
        if trial.get("state") == "complete" and is_finite(trial.get("value")):
            row["complete"] += 1
            value = trial["value"]
            if row["best"] is None or (value > row["best"] if maximize else value < row["best"]):
                row["best"] = value
    for (j, i), row in rows.items():
        row["promoted"] = len(configs_at[(j, i)] & configs_at.get((j, i + 1), set()))
    return [rows[k] for k in sorted(rows)]


def epoch_curve(
    sweep_dir: Path, trial: dict[str, Any]
) -> tuple[list[int], list[float], str] | None:
    """Per-epoch objective values from the job's metrics.json (hpfw's trainer writes one).

    The job directory is ``<sweep dir>/<job>`` (Hydra's default ``hydra.sweep.subdir``);
    without a readable file there the plot uses the per-rung values instead.
    """
    path = sweep_dir / str(trial.get("job")) / "metrics.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    epochs = data.get("epochs") if isinstance(data, dict) else None
    name = data.get("objective") if isinstance(data, dict) else None
    if not isinstance(epochs, dict) or not isinstance(epochs.get(name), list):
        return None
    values = epochs[name]
    numbers = epochs.get("epoch")
    if not (isinstance(numbers, list) and len(numbers) == len(values)):
        start = int((trial.get("metrics") or {}).get("start_epoch") or 0)
        numbers = list(range(start + 1, start + len(values) + 1))
    pairs = [(int(e), float(v)) for e, v in zip(numbers, values, strict=True) if is_finite(v)]
    return ([e for e, _ in pairs], [v for _, v in pairs], str(name)) if pairs else None
