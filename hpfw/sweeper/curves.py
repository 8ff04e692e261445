"""curves.png: each trial's intermediate values by step, pruned trials marked where they stopped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpfw.sweeper.intermediate import curves
from hpfw.sweeper.reports import best_trial, replace_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVES_FILE = "curves.png"
STYLE = {  # state -> (colour, line width, alpha)
    "complete": ("C0", 1.0, 0.6),
    "pruned": ("0.55", 0.8, 0.7),
    "failed": ("C1", 0.8, 0.7),
    "diverged": ("C4", 0.8, 0.7),
    "running": ("C2", 1.0, 0.8),
}

Record = dict[str, Any]


def curves_figure(
    header: dict[str, Any], trials: Sequence[Record], sweep_dir: str | Path | None = None
) -> tuple[Figure, dict[int, dict[str, Any]]]:
    """The figure, and what it drew: ``{trial id: {steps, values, state}}``."""
    from matplotlib.figure import Figure  # loaded on first use: it takes ~0.3 s

    by_id = {int(t["id"]): t for t in trials}
    found = curves(trials, sweep_dir)
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    name = header.get("objective") or "objective"
    counts: dict[str, int] = {}
    drawn: dict[int, dict[str, Any]] = {}
    best = best_trial(header, trials)
    for trial_id, points in sorted(found.items()):
        state = str(by_id[trial_id].get("state"))
        counts[state] = counts.get(state, 0) + 1
        steps = [s for s, v in points if v is not None]
        values = [v for _, v in points if v is not None]
        drawn[trial_id] = {"steps": steps, "values": values, "state": state}
        if not steps:
            continue
        colour, width, alpha = STYLE.get(state, ("C7", 0.8, 0.6))
        if best is not None and best["id"] == trial_id:
            colour, width, alpha = "C3", 2.0, 1.0
        ax.plot(steps, values, "-", color=colour, lw=width, alpha=alpha)
        if state == "pruned":
            ax.plot(steps[-1:], values[-1:], "x", color="0.35", markersize=5)
    if not drawn:
        ax.text(
            0.5,
            0.5,
            "no trial reported intermediate values",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="gray",
        )
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xlabel("step (hpfw.report)")
        ax.set_ylabel(name)
        every = [s for d in drawn.values() for s in d["steps"]]
        if every and min(every) > 0 and max(every) / min(every) > 30:
            ax.set_xscale("log")
        legend = [f"{n} {s}" for s, n in sorted(counts.items())]
        ax.plot([], [], "x", color="0.35", label="pruned here")
        if best is not None and best["id"] in drawn:
            ax.plot([], [], "-", color="C3", lw=2.0, label=f"best (trial {best['id']})")
        ax.legend(loc="best", fontsize="small", title=", ".join(legend), title_fontsize="small")
    fig.suptitle(f"{name} per step, each trial ({header.get('direction', 'minimize')})")
    return fig, drawn


def plot_curves(
    path: Path, header: dict[str, Any], trials: Sequence[Record], sweep_dir: str | Path | None
) -> bool:
    """Saves curves.png when any trial reported values; returns whether it drew."""
    fig, drawn = curves_figure(header, trials, sweep_dir)
    if not drawn:
        return False
    fig.tight_layout()
    replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return True
