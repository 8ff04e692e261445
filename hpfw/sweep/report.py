"""Sweep reports drawn from the journal alone: best.yaml, trials.csv, history.png, params.png.

Multi-fidelity sweeps (``sha``, ``hyperband``) also get ``rungs.png`` and a
rungs table (see ``hpfw.sweep.rungs``).

``hpfw report <sweep dir>`` redraws them at any time, also for a sweep that is
still running or that crashed. Heavy imports (matplotlib, rich) happen inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpfw.sweep import rungs
from hpfw.sweep.journal import Journal, JournalError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from rich.console import Console
    from rich.table import Table

BEST_FILE = "best.yaml"
CSV_FILE = "trials.csv"
HISTORY_FILE = "history.png"
PARAMS_FILE = "params.png"
NO_TRIALS = "no completed trials yet"
TEST_PREFIX = "test_"
TEST_LABEL = "Test metrics of the best trial (unbiased final estimate; never used for selection)"
STATES = ("complete", "failed", "diverged", "running")


# --------------------------------------------------------------------------- helpers


def _maximize(header: dict[str, Any]) -> bool:
    return header.get("direction", "minimize") == "maximize"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _completed(trials: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    # A complete record without a finite value cannot be ranked; treat it as not complete.
    return [t for t in trials if t.get("state") == "complete" and _finite(t.get("value"))]


def _ranked(header: dict[str, Any], trials: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completed trials, best first; ties go to the lower id (found first).

    In a multi-fidelity sweep larger budgets rank first: a value after one
    epoch is no rival for a full run's (the incumbent rule of BOHB).
    """
    sign = -1.0 if _maximize(header) else 1.0
    return sorted(
        _completed(trials),
        key=lambda t: (-(rungs.budget(t) or 0), sign * t["value"], t["id"]),
    )


def _active_params(trial: dict[str, Any]) -> dict[str, Any]:
    inactive = set(trial.get("inactive") or ())
    return {k: v for k, v in (trial.get("params") or {}).items() if k not in inactive}


def _param_names(header: dict[str, Any], trials: Iterable[dict[str, Any]]) -> list[str]:
    """The space's names in its order, then any names only trials carry."""
    names = list(header.get("space") or {})
    for trial in trials:
        names.extend(k for k in trial.get("params") or {} if k not in names)
    return names


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _counts(trials: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for trial in trials:
        state = trial.get("state")
        counts[state] = counts.get(state, 0) + 1
    return counts


def _replace_atomically(path: Path, write: Any) -> None:
    """Writes via a temporary file and renames it, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- public API


def best_trial(header: dict[str, Any], trials: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The best completed trial in the sweep's direction, or ``None``."""
    ranked = _ranked(header, trials)
    return ranked[0] if ranked else None


def reproduce_command(header: dict[str, Any], trial: dict[str, Any]) -> str:
    """A shell command that reruns ``trial`` alone.

    ``header["command"]`` is kept as written (it may be ``python my_app.py``);
    each override is quoted only where the shell needs it.
    """
    overrides = [*(header.get("fixed_overrides") or ()), *(trial.get("overrides") or ())]
    command = header.get("command") or "hpfw"
    return " ".join([command, *(shlex.quote(str(o)) for o in overrides)])


def summary_table(header: dict[str, Any], trials: Sequence[dict[str, Any]], top: int = 5) -> Table:
    """The ``top`` best completed trials, titled with the counts of every state."""
    from rich.table import Table

    counts = _counts(trials)
    title = f"Sweep: {len(trials)} trials — " + ", ".join(f"{counts[s]} {s}" for s in STATES)
    objective = header.get("objective") or "value"
    arrow = "↑" if _maximize(header) else "↓"
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column(f"{objective} {arrow}", justify="right")
    fidelity = rungs.is_multi_fidelity(trials)
    if fidelity:
        table.add_column("budget", justify="right")
    table.add_column("params")
    for rank, trial in enumerate(_ranked(header, trials)[:top], 1):
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in _active_params(trial).items())
        budget = [_fmt(rungs.budget(trial))] if fidelity else []
        table.add_row(str(rank), str(trial["id"]), _fmt(trial["value"]), *budget, params)
    return table


def print_summary(
    header: dict[str, Any], trials: Sequence[dict[str, Any]], console: Console | None = None
) -> None:
    """Prints the summary table, the best trial's command and its test metrics."""
    from rich.console import Console

    console = console or Console()
    console.print(summary_table(header, trials))
    table = rungs.rungs_table(header, trials)
    if table is not None:
        console.print(table)
    best = best_trial(header, trials)
    if best is None:
        console.print(f"[yellow]{NO_TRIALS.capitalize()}.[/yellow]")
        return
    console.print(
        f"Best trial: #{best['id']} ({header.get('objective') or 'value'} = {_fmt(best['value'])})"
    )
    # markup=False: overrides contain brackets (lists) that rich would eat as tags.
    console.print("Reproduce:", reproduce_command(header, best), markup=False, soft_wrap=True)
    metrics = best.get("metrics") or {}
    tests = {k: v for k, v in sorted(metrics.items()) if k.startswith(TEST_PREFIX)}
    if tests:
        console.print(f"{TEST_LABEL}:", markup=False)
        for key, value in tests.items():
            console.print(f"  {key} = {_fmt(value) or 'null'}", markup=False)


def write_reports(
    sweep_dir: str | Path,
    header: dict[str, Any] | None = None,
    trials: list[dict[str, Any]] | None = None,
    *,
    plots: bool = True,
) -> dict[str, Any] | None:
    """(Re)writes every report file in ``sweep_dir``; returns the best record or ``None``.

    Reads the journal when ``header`` or ``trials`` is not given. With no
    completed trial, best.yaml is not written (and a stale one removed) and the
    plots say so. ``plots=False`` writes only best.yaml and trials.csv: drawing
    costs a fraction of a second, too much to repeat after every small batch.
    """
    sweep_dir = Path(sweep_dir)
    if header is None or trials is None:
        header, trials = Journal(sweep_dir).read()
    best = best_trial(header, trials)
    _write_best(sweep_dir / BEST_FILE, header, best)
    _write_csv(sweep_dir / CSV_FILE, header, trials)
    if plots:
        _plot_history(sweep_dir / HISTORY_FILE, header, trials)
        _plot_params(sweep_dir / PARAMS_FILE, header, trials)
        rungs.plot_rungs(sweep_dir / rungs.RUNGS_FILE, header, trials, sweep_dir)
    return best


# --------------------------------------------------------------------------- files


def _write_best(path: Path, header: dict[str, Any], best: dict[str, Any] | None) -> None:
    import yaml

    if best is None:
        path.unlink(missing_ok=True)
        return
    data = {
        "value": best["value"],
        "trial": best["id"],
        "params": _active_params(best),
        "overrides": list(best.get("overrides") or ()),
        "command": reproduce_command(header, best),
        "metrics": dict(best.get("metrics") or {}),
    }
    # A wide line width keeps the command on one line, ready to copy.
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)
    _replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_csv(path: Path, header: dict[str, Any], trials: Sequence[dict[str, Any]]) -> None:
    params = _param_names(header, trials)
    metrics = sorted({k for t in trials for k in t.get("metrics") or {}})
    # Params and metrics could share a name; prefix metric columns only then.
    metric_cols = [f"metric_{m}" if m in params else m for m in metrics]
    # Multi-fidelity sweeps: each trial's configuration, bracket, rung and budget.
    lineage = list(rungs.LINEAGE_COLUMNS) if rungs.is_multi_fidelity(trials) else []
    columns = [
        "id",
        "job",
        "state",
        "value",
        *lineage,
        *params,
        *metric_cols,
        "start",
        "end",
        "error",
    ]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for t in trials:
                active = _active_params(t)
                values = t.get("metrics") or {}
                writer.writerow(
                    [
                        t.get("id"),
                        _cell(t.get("job")),
                        t.get("state", ""),
                        _cell(t.get("value")),
                        *(_cell(v) for v in (rungs.lineage(t) if lineage else [])),
                        *(_cell(active.get(p)) for p in params),
                        *(_cell(values.get(m)) for m in metrics),
                        _cell(t.get("start")),
                        _cell(t.get("end")),
                        _cell(t.get("error")),
                    ]
                )

    _replace_atomically(path, write)


def _cell(value: Any) -> Any:
    # Full precision (repr) for floats: the CSV is for analysis, not display.
    return "" if value is None else value


# --------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: sweeps run on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _log_y(values: Sequence[float]) -> bool:
    # Losses spanning orders of magnitude are unreadable on a linear axis.
    return bool(values) and min(values) > 0 and max(values) / min(values) > 100


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    try:
        fig.tight_layout()
        _replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)  # figures are redrawn every batch; never let them pile up


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def _plot_history(path: Path, header: dict[str, Any], trials: Sequence[dict[str, Any]]) -> None:
    plt = _pyplot()
    objective = header.get("objective") or "objective"
    direction = header.get("direction", "minimize")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.set_title(f"{objective} per trial ({direction})")
    done = sorted(_completed(trials), key=lambda t: t["id"])
    if not done:
        _empty(ax, NO_TRIALS)
    else:
        ids = [t["id"] for t in done]
        values = [t["value"] for t in done]
        ax.plot(ids, values, "o", color="C0", alpha=0.7, label="complete")
        pick = max if _maximize(header) else min
        best_so_far: list[float] = []
        for v in values:
            best_so_far.append(v if not best_so_far else pick(best_so_far[-1], v))
        ax.step(ids, best_so_far, where="post", color="C3", label="best so far")
        if _log_y(values):
            ax.set_yscale("log")
        ax.set_xlabel("trial id")
        ax.set_ylabel(objective)
    # Failed and diverged trials have no value: mark them along the bottom edge.
    for state, color in (("failed", "C1"), ("diverged", "C4")):
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
    _save(fig, path)


def _plot_params(path: Path, header: dict[str, Any], trials: Sequence[dict[str, Any]]) -> None:
    plt = _pyplot()
    space = header.get("space") or {}
    names = _param_names(header, trials)
    done = _completed(trials)
    if not done or not names:
        fig, ax = plt.subplots(figsize=(6, 3))
        _empty(ax, NO_TRIALS if not done else "no parameters")
        _save(fig, path)
        return
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    # Subplots shrink as their number grows, so the figure stays a modest size.
    scale = 1.0 if nrows <= 3 else 0.7
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols * scale, 3.2 * nrows * scale), squeeze=False
    )
    best = best_trial(header, trials)
    objective = header.get("objective") or "objective"
    log_y = _log_y([t["value"] for t in done])
    for ax, name in zip(axes.flat, names, strict=False):
        _plot_param(ax, name, space.get(name), done, best, log_y)
        ax.set_ylabel(objective, fontsize="small")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"{objective} vs. each parameter ({header.get('direction', 'minimize')})")
    _save(fig, path)


def _plot_param(
    ax: Axes,
    name: str,
    dist: dict[str, Any] | None,
    done: Sequence[dict[str, Any]],
    best: dict[str, Any] | None,
    log_y: bool,
) -> None:
    points = [(t, _active_params(t)[name]) for t in done if name in _active_params(t)]
    ax.set_title(name, fontsize="medium")
    if log_y:
        ax.set_yscale("log")
    if not points:
        _empty(ax, "never active")
        return
    kind = (dist or {}).get("type")
    numeric = all(_finite(v) for _, v in points)
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
    if _finite(low) and _finite(high) and low < high:
        low, high = min(low, *xs), max(high, *xs)  # never clip a point outside the space
        if log and low > 0:
            ax.set_xlim(low / 1.15, high * 1.15)
        elif not log:
            pad = 0.04 * (high - low)
            ax.set_xlim(low - pad, high + pad)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str]) -> int:
    """``hpfw report <sweep dir>``: redraws every report file and prints the summary."""
    parser = argparse.ArgumentParser(
        prog="hpfw report",
        description="Redraw a sweep's reports from its journal and print a summary.",
    )
    parser.add_argument("sweep_dir", help="the sweep directory (holding trials.jsonl)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help and usage errors
        return int(exit_.code or 0)
    sweep_dir = Path(args.sweep_dir)
    if sweep_dir.is_file() and sweep_dir.name == Journal.FILENAME:
        sweep_dir = sweep_dir.parent  # the journal itself was named
    if not sweep_dir.is_dir():
        print(f"hpfw report: no such directory: {sweep_dir}", file=sys.stderr)
        return 2
    journal = Journal(sweep_dir)
    if not journal.exists():
        print(
            f"hpfw report: no {Journal.FILENAME} in {sweep_dir} (not a sweep directory?)",
            file=sys.stderr,
        )
        return 2
    try:
        header, trials = journal.read()
    except JournalError as error:
        print(f"hpfw report: {error}", file=sys.stderr)
        return 2
    write_reports(sweep_dir, header, trials)
    print_summary(header, trials)
    return 0
