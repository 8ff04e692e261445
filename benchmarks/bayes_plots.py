"""Regret over trials, per problem and method, from ``bench_bayes.py``'s run records.

One panel per problem: for each method, the median over seeds of the best true
value found so far minus the optimum, after each trial, with the seeds'
interquartile range shaded, on a log scale. On a noise-free problem the last
point is the run's reported regret; on a noisy one it is the best trial an
oracle would pick, a lower bound of what a method reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bayes_problems import PROBLEMS

FLOOR = 1e-8  # regrets at the optimum (0 to float precision) plot here on the log axis


def regret_curves(records: Sequence[dict[str, Any]], problem: str) -> dict[str, np.ndarray]:
    """``{method: seeds x trials array}`` of best-so-far true regret on ``problem``."""
    optimum = PROBLEMS[problem].optimum
    curves: dict[str, list[np.ndarray]] = {}
    for record in records:
        if record["problem"] == problem:
            so_far = np.minimum.accumulate(np.asarray(record["true"], dtype=float)) - optimum
            curves.setdefault(record["method"], []).append(np.maximum(so_far, FLOOR))
    out = {}
    for method, runs in curves.items():
        length = min(len(r) for r in runs)
        out[method] = np.stack([r[:length] for r in runs])
    return out


def plot_regret(records: Sequence[dict[str, Any]], path: Path) -> list[str]:
    """Draws every problem of ``records`` into one PNG at ``path``; returns the problems."""
    # The object-oriented API: no pyplot state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in records)]
    columns = min(3, len(problems))
    rows = math.ceil(len(problems) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.3 * rows))
    FigureCanvasAgg(fig)
    for i, problem in enumerate(problems):
        ax = fig.add_subplot(rows, columns, i + 1)
        for method, runs in regret_curves(records, problem).items():
            trials = np.arange(1, runs.shape[1] + 1)
            q1, median, q3 = np.percentile(runs, [25, 50, 75], axis=0)
            (line,) = ax.plot(trials, median, label=f"{method} ({len(runs)})")
            ax.fill_between(trials, q1, q3, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel("trials")
        ax.set_ylabel("best regret so far")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return problems
