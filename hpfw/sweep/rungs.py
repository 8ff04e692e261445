"""Reports of multi-fidelity sweeps: a rungs table and ``rungs.png``, per-configuration curves.

A trial of ``sha`` or ``hyperband`` carries its lineage in ``info`` (``config``,
``bracket``, ``rung``, ``budget``); these functions group the journal's
records by it. Records without a budget are ignored, so for other sweeps
every function here returns nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

RUNGS_FILE = "rungs.png"
LINEAGE_COLUMNS = ("config", "bracket", "rung", "budget")


def budget(trial: dict[str, Any]) -> int | None:
    """The trial's budget, or ``None`` for a trial of a single-fidelity sweep."""
    value = (trial.get("info") or {}).get("budget")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_multi_fidelity(trials: Sequence[dict[str, Any]]) -> bool:
    return any(budget(t) is not None for t in trials)


def lineage(trial: dict[str, Any]) -> list[Any]:
    """The trial's ``config, bracket, rung, budget`` (empty cells where it has none)."""
    info = trial.get("info") or {}
    return [info.get(k) for k in LINEAGE_COLUMNS]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _configs(trials: Sequence[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
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
        if trial.get("state") == "complete" and _finite(trial.get("value")):
            row["complete"] += 1
            value = trial["value"]
            if row["best"] is None or (value > row["best"] if maximize else value < row["best"]):
                row["best"] = value
    for (j, i), row in rows.items():
        row["promoted"] = len(configs_at[(j, i)] & configs_at.get((j, i + 1), set()))
    return [rows[k] for k in sorted(rows)]


def rungs_table(header: dict[str, Any], trials: Sequence[dict[str, Any]]) -> Table | None:
    """The rungs of every bracket as a rich table, or ``None`` for a single-fidelity sweep."""
    from rich.table import Table

    rows = rung_rows(header, trials)
    if not rows:
        return None
    table = Table(title="Rungs: each keeps the best configurations of the one before")
    for column in ("bracket", "rung", "budget", "trials", "complete", "promoted", "best"):
        table.add_column(column, justify="right")
    for row in rows:
        best = "" if row["best"] is None else f"{row['best']:.6g}"
        table.add_row(
            *(str(row[c]) for c in ("bracket", "rung", "budget", "trials", "complete")),
            str(row["promoted"]),
            best,
        )
    return table


def _epoch_curve(
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
    pairs = [(int(e), float(v)) for e, v in zip(numbers, values, strict=True) if _finite(v)]
    return ([e for e, _ in pairs], [v for _, v in pairs], str(name)) if pairs else None


def plot_rungs(
    path: Path, header: dict[str, Any], trials: Sequence[dict[str, Any]], sweep_dir: Path
) -> bool:
    """Draws ``rungs.png``: the objective against budget, one line per configuration.

    One panel per bracket. A configuration that reached its bracket's top rung
    is drawn in colour; one stopped early is grey and ends in an ``x``, so the
    plot shows where each was cut. Per-epoch values are used where the job's
    metrics.json has them, else the value at each rung. Returns ``False``
    (drawing nothing) for a single-fidelity sweep.
    """
    from hpfw.sweep.report import _pyplot, _save

    groups = _configs(trials)
    if not groups:
        return False
    plt = _pyplot()
    brackets = sorted({j for j, _ in groups})
    ncols = min(3, len(brackets))
    nrows = math.ceil(len(brackets) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    label = header.get("objective") or "objective"
    top = {
        j: max(t["info"]["rung"] for (b, _), ts in groups.items() if b == j for t in ts)
        for j in brackets
    }
    every = [t["info"]["budget"] for ts in groups.values() for t in ts]
    smallest, largest = min(every), max(every)
    for ax, j in zip(axes.flat, brackets, strict=False):
        budgets = sorted(
            {t["info"]["budget"] for (b, _), ts in groups.items() if b == j for t in ts}
        )
        finished = 0
        for (b, config), runs in sorted(groups.items()):
            if b != j:
                continue
            xs: list[float] = []
            ys: list[float] = []
            for trial in runs:
                curve = _epoch_curve(sweep_dir, trial)
                if curve is not None:
                    xs += curve[0]
                    ys += curve[1]
                    label = curve[2]  # the metric's own name, e.g. val_accuracy
                elif trial.get("state") == "complete" and _finite(trial.get("value")):
                    xs.append(trial["info"]["budget"])
                    ys.append(trial["value"])
            if not xs:
                continue
            survived = runs[-1]["info"]["rung"] == top[j] and runs[-1].get("state") == "complete"
            if survived:
                finished += 1
                ax.plot(xs, ys, "-", marker=".", lw=1.6, label=f"config {config}")
            else:
                ax.plot(xs, ys, "-", color="0.6", lw=0.8, alpha=0.7)
                ax.plot(xs[-1:], ys[-1:], "x", color="0.45", markersize=5)
        ax.set_title(f"bracket {j}: budgets {', '.join(map(str, budgets))}", fontsize="medium")
        ax.set_xlabel("epochs (budget)")
        ax.set_ylabel(label, fontsize="small")
        if largest / smallest > 10:
            ax.set_xscale("log")
            ax.set_xlim(smallest / 1.3, largest * 1.3)
        else:  # the same range in every panel, so brackets compare at a glance
            ax.set_xlim(0, largest * 1.05)
        if 0 < finished <= 6:
            ax.legend(loc="best", fontsize="x-small")
    for ax in list(axes.flat)[len(brackets) :]:
        ax.set_visible(False)
    fig.suptitle(f"{label} per configuration (grey x: stopped early)")
    _save(fig, path)
    return True
