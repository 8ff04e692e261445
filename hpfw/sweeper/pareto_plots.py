"""Plots of a sweep with several objectives: pareto.png and history.png's hypervolume panel.

``pareto.png`` shows the feasible trials, the Pareto front joined up, and the
infeasible trials as crosses: one panel for two objectives, a pair plot (each
pair of objectives, the front of all of them marked) for more.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpfw.sweeper.front import front, hypervolume_history, is_multi, scored
from hpfw.sweeper.objectives import Objectives

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PARETO_FILE = "pareto.png"
Record = dict[str, Any]


def draw_hypervolume(ax: Axes, header: dict[str, Any], trials: Sequence[Record]) -> list[float]:
    """Hypervolume of the feasible front after each trial; returns the values drawn."""
    ids, volumes, reference = hypervolume_history(header, trials)
    ax.set_title("hypervolume of the Pareto front so far", fontsize="medium")
    if not ids:
        ax.text(0.5, 0.5, "no feasible trials yet", ha="center", va="center", color="gray")
        return []
    ax.step(ids, volumes, where="post", color="C2")
    ax.set_xlabel("trial id")
    ax.set_ylabel("hypervolume")
    shown = ", ".join(f"{r:.3g}" for r in reference)
    ax.text(0.99, 0.02, f"reference ({shown}), lower is better", transform=ax.transAxes,
            ha="right", va="bottom", fontsize="x-small", color="gray")  # fmt: skip
    return volumes


def pareto_figure(header: dict[str, Any], trials: Sequence[Record]) -> tuple[Figure, dict]:
    """The objectives against each other, with ``{front: [ids], points: n, infeasible: n}``."""
    from matplotlib.figure import Figure

    objectives = Objectives.from_header(header)
    names = objectives.names
    kept, _ = scored(header, trials)
    on_front = front(header, trials)
    bad = [t for t in trials if t.get("state") == "complete" and t.get("feasible") is False]
    pairs = [(i, j) for j in range(len(names)) for i in range(j)]
    side = 1 if len(names) == 2 else len(names) - 1
    fig = Figure(figsize=(5.5, 4.5) if side == 1 else (3.2 * side, 3.0 * side))
    axes = fig.subplots(side, side, squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for i, j in pairs:
        ax = axes[j - 1, i] if side > 1 else axes[0, 0]
        ax.set_visible(True)
        _pair(ax, names[i], names[j], kept, on_front, bad, connect=len(names) == 2)
    fig.suptitle(f"Pareto front: {len(on_front)} of {len(kept)} feasible trials")
    series = {"front": [t["id"] for t in on_front], "points": len(kept), "infeasible": len(bad)}
    return fig, series


def _pair(ax: Axes, x: str, y: str, kept: list, on_front: list, bad: list, connect: bool) -> None:
    def xy(trials: list) -> tuple[list, list]:
        values = [t.get("values") or {} for t in trials]
        pts = [(v[x], v[y]) for v in values if v.get(x) is not None and v.get(y) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    ax.plot(*xy(kept), "o", color="C0", alpha=0.5, label="feasible")
    fx, fy = xy(on_front)
    ax.plot(fx, fy, "o", color="C3", label="Pareto front")
    if connect and fx:
        order = sorted(range(len(fx)), key=lambda k: fx[k])
        ax.plot([fx[k] for k in order], [fy[k] for k in order], "-", color="C3", alpha=0.6)
    if bad:
        ax.plot(*xy(bad), "x", color="C1", label="infeasible")
    ax.set_xlabel(x, fontsize="small")
    ax.set_ylabel(y, fontsize="small")
    ax.legend(loc="best", fontsize="x-small")


def plot_pareto(path: Path, header: dict[str, Any], trials: Sequence[Record]) -> dict | None:
    """Saves pareto.png for a sweep of several objectives (removes a stale one otherwise)."""
    from hpfw.sweeper.plots import _save

    if not is_multi(header):
        path.unlink(missing_ok=True)
        return None
    fig, series = pareto_figure(header, trials)
    _save(fig, path)
    return series
