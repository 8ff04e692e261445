"""The sweep's plots for papers: history.png, params.png, rungs.png and curves.png.

Each ``*_figure`` function draws a matplotlib ``Figure`` from the journal's
records and returns it with the series it drew, so what a plot shows can be
checked against the journal; each ``plot_*`` function saves one as a PNG.
Figures are built with matplotlib's object-oriented API, not pyplot: no global
figure state, nothing to close, and no backend switched under a notebook that
calls ``hpfw.load(...).plot_history()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpfw.sweeper import rungs
from hpfw.sweeper.curves import CURVES_FILE, plot_curves
from hpfw.sweeper.reports import (
    active_params,
    best_trial,
    completed,
    maximize,
    param_names,
    replace_atomically,
)
from hpfw.values import is_finite

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HISTORY_FILE = "history.png"
PARAMS_FILE = "params.png"
NO_TRIALS = "no completed trials yet"
NO_VALUES = "no values reported"  # trials completed, but their task returned no number

Record = dict[str, Any]


def _nothing_to_plot(trials: Sequence[Record]) -> str:
    if any(t.get("state") == "complete" for t in trials):
        return NO_VALUES
    return NO_TRIALS


def draw_all(sweep_dir: Path, header: dict[str, Any], trials: Sequence[Record]) -> None:
    """Redraws every plot of the sweep in ``sweep_dir``.

    A sweep whose trials complete without values (grid or random over a task
    that returns none) has nothing to plot: it gets no PNGs, and skips
    matplotlib's import (about a second).
    """
    if _nothing_to_plot(trials) == NO_VALUES and not completed(trials):
        for name in (HISTORY_FILE, PARAMS_FILE, rungs.RUNGS_FILE):
            (sweep_dir / name).unlink(missing_ok=True)
        return
    plot_history(sweep_dir / HISTORY_FILE, header, trials)
    plot_params(sweep_dir / PARAMS_FILE, header, trials)
    plot_rungs(sweep_dir / rungs.RUNGS_FILE, header, trials, sweep_dir)
    plot_curves(sweep_dir / CURVES_FILE, header, trials, sweep_dir)


def _figure(**kwargs: Any) -> Figure:
    from matplotlib.figure import Figure  # loaded on first use: it takes ~0.3 s

    return Figure(**kwargs)


def _log_y(values: Sequence[float]) -> bool:
    # Losses spanning orders of magnitude are unreadable on a linear axis.
    return bool(values) and min(values) > 0 and max(values) / min(values) > 100


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_history(path: Path, header: dict[str, Any], trials: Sequence[Record]) -> dict[str, list]:
    """Saves ``history_figure`` as ``path``; returns its series."""
    fig, series = history_figure(header, trials)
    _save(fig, path)
    return series


def history_figure(header: dict[str, Any], trials: Sequence[Record]) -> tuple[Figure, dict]:
    """Objective per trial and the best so far, with ``{ids, values, best_so_far}``."""
    series: dict[str, list] = {"ids": [], "values": [], "best_so_far": []}
    objective = header.get("objective") or "objective"
    direction = header.get("direction", "minimize")
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.set_title(f"{objective} per trial ({direction})")
    done = sorted(completed(trials), key=lambda t: t["id"])
    if not done:
        _empty(ax, _nothing_to_plot(trials))
    else:
        ids = [t["id"] for t in done]
        values = [t["value"] for t in done]
        ax.plot(ids, values, "o", color="C0", alpha=0.7, label="complete")
        pick = max if maximize(header) else min
        best_so_far: list[float] = []
        for v in values:
            best_so_far.append(v if not best_so_far else pick(best_so_far[-1], v))
        ax.step(ids, best_so_far, where="post", color="C3", label="best so far")
        series = {"ids": ids, "values": values, "best_so_far": best_so_far}
        if _log_y(values):
            ax.set_yscale("log")
        ax.set_xlabel("trial id")
        ax.set_ylabel(objective)
    # Failed, diverged and pruned trials have no value: mark them along the bottom edge.
    for state, color in (("failed", "C1"), ("diverged", "C4"), ("pruned", "0.5")):
        ids = [t["id"] for t in trials if t.get("state") == state]
        if ids and done:
            ax.plot(
                ids,
                [0.02] * len(ids),
                "x",
                color=color,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                label=f"{state} ({len(ids)})",
            )
    if done:
        ax.legend(loc="best", fontsize="small")
    return fig, series


def plot_params(
    path: Path, header: dict[str, Any], trials: Sequence[Record]
) -> dict[str, list[tuple[Any, float]]]:
    """Saves ``params_figure`` as ``path``; returns its points."""
    fig, drawn = params_figure(header, trials)
    _save(fig, path)
    return drawn


def params_figure(
    header: dict[str, Any], trials: Sequence[Record]
) -> tuple[Figure, dict[str, list[tuple[Any, float]]]]:
    """Objective against each parameter, with ``{name: [(value, objective), ...]}``."""
    space = header.get("space") or {}
    names = param_names(header, trials)
    done = completed(trials)
    if not done or not names:
        fig = _figure(figsize=(6, 3))
        _empty(fig.subplots(), _nothing_to_plot(trials) if not done else "no parameters")
        return fig, {}
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    # Subplots shrink as their number grows, so the figure stays a modest size.
    scale = 1.0 if nrows <= 3 else 0.7
    fig = _figure(figsize=(4.2 * ncols * scale, 3.2 * nrows * scale))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    best = best_trial(header, trials)
    objective = header.get("objective") or "objective"
    log_y = _log_y([t["value"] for t in done])
    from hpfw.sweeper.report_data import sample  # the same trials report.html draws

    shown = sample(header, done)  # 10,000 markers per panel cost seconds and show no more
    note = (
        f"; {len(shown)} of {len(done)} trials: the best and a random sample"
        if len(shown) < len(done)
        else ""
    )
    done = shown
    drawn = {}
    for ax, name in zip(axes.flat, names, strict=False):
        drawn[name] = _plot_param(ax, name, space.get(name), done, best, log_y)
        ax.set_ylabel(objective, fontsize="small")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"{objective} vs. each parameter ({header.get('direction', 'minimize')}{note})")
    return fig, drawn


def _plot_param(
    ax: Axes,
    name: str,
    dist: dict[str, Any] | None,
    done: Sequence[Record],
    best: Record | None,
    log_y: bool,
) -> list[tuple[Any, float]]:
    points = [(t, active_params(t)[name]) for t in done if name in active_params(t)]
    ax.set_title(name, fontsize="medium")
    if log_y:
        ax.set_yscale("log")
    if not points:
        _empty(ax, "never active")
        return []
    kind = (dist or {}).get("type")
    numeric = all(is_finite(v) for _, v in points)
    if kind == "categorical" or not numeric:
        # Categories by position, in the space's order; values not in it go last.
        categories = list((dist or {}).get("choices") or [])
        keys = [repr(c) for c in categories]
        for _, v in points:
            if repr(v) not in keys:
                categories.append(v)
                keys.append(repr(v))
        # A small, deterministic jitter keeps repeated choices from hiding each other.
        xs = [keys.index(repr(v)) + ((t["id"] * 0.618) % 1 - 0.5) * 0.3 for t, v in points]
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels([str(c) for c in categories], rotation=30, fontsize="small")
        ax.set_xlim(-0.5, len(categories) - 0.5)
    else:
        xs = [float(v) for _, v in points]
        _numeric_axis(ax, dist or {}, xs)
    ys = [t["value"] for t, _ in points]
    ax.plot(xs, ys, "o", color="C0", alpha=0.7)
    if best is not None:
        for x, (t, _) in zip(xs, points, strict=True):
            if t["id"] == best["id"]:
                ax.plot([x], [t["value"]], "*", color="C3", markersize=12)
    return [(v, t["value"]) for t, v in points]


def _numeric_axis(ax: Axes, dist: dict[str, Any], xs: Sequence[float]) -> None:
    """Log scale for log-scaled params; the x range is the space's, so gaps show."""
    from matplotlib.ticker import MaxNLocator, NullFormatter

    log = bool(dist.get("log")) and all(x > 0 for x in xs)
    if log:
        ax.set_xscale("log")
        # Minor labels crowd each other on ranges of a decade or two.
        ax.xaxis.set_minor_formatter(NullFormatter())
    if dist.get("type") == "int":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    low, high = dist.get("low"), dist.get("high")
    if is_finite(low) and is_finite(high) and low < high:
        low, high = min(low, *xs), max(high, *xs)  # never clip a point outside the space
        if log and low > 0:
            ax.set_xlim(low / 1.15, high * 1.15)
        elif not log:
            pad = 0.04 * (high - low)
            ax.set_xlim(low - pad, high + pad)


def plot_rungs(
    path: Path, header: dict[str, Any], trials: Sequence[Record], sweep_dir: Path
) -> bool:
    """Draws ``rungs.png``: the objective against budget, one line per configuration.

    One panel per bracket. A configuration that reached its bracket's top rung
    is drawn in colour; one stopped early is grey and ends in an ``x``, so the
    plot shows where each was cut. Per-epoch values are used where the job's
    metrics.json has them, else the value at each rung. Returns ``False``
    (drawing nothing) for a single-fidelity sweep.
    """
    groups = rungs.configs(trials)
    if not groups:
        return False
    brackets = sorted({j for j, _ in groups})
    ncols = min(3, len(brackets))
    nrows = math.ceil(len(brackets) / ncols)
    fig = _figure(figsize=(4.6 * ncols, 3.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
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
                curve = rungs.epoch_curve(sweep_dir, trial)
                if curve is not None:
                    xs += curve[0]
                    ys += curve[1]
                    label = curve[2]  # the metric's own name, e.g. val_accuracy
                elif trial.get("state") == "complete" and is_finite(trial.get("value")):
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
