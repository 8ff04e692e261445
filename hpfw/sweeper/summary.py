"""The summary a sweep prints at its end (and ``hpfw report`` again): rich tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpfw.sweeper import rungs
from hpfw.sweeper.reports import STATES, active_params, best_trial, counts, maximize, ranked
from hpfw.sweeper.reports import reproduce_command as command_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

NO_TRIALS = "no completed trials yet"
TEST_PREFIX = "test_"
TEST_LABEL = "Test metrics of the best trial (unbiased final estimate; never used for selection)"

Record = dict[str, Any]


def fmt(value: Any) -> str:
    """A value for a table cell: six significant digits for floats, blank for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def no_best_reason(trials: Sequence[Record]) -> str:
    """Why a sweep has no best trial: nothing completed, or nothing returned a value."""
    complete = counts(trials)["complete"]
    if not complete:
        return f"{NO_TRIALS.capitalize()}."
    returned = sorted({k for t in trials for k in (t.get("metrics") or {})})
    if returned:  # mappings without the objective key: say which keys there were
        return (
            f"No values were reported: {complete} trials completed without the objective key "
            f"(they returned {', '.join(returned[:8])}); name one with hydra.sweeper.objective "
            "(objective_key in Python) to rank them."
        )
    return (
        f"No values were reported: {complete} trials completed, none returned a number "
        "to rank them by."
    )


def summary_table(header: dict[str, Any], trials: Sequence[Record], top: int = 5) -> Table:
    """The ``top`` best completed trials, titled with the counts of every state."""
    from rich.table import Table

    found = counts(trials)
    title = f"Sweep: {len(trials)} trials — " + ", ".join(f"{found[s]} {s}" for s in STATES)
    objective = header.get("objective") or "value"
    arrow = "↑" if maximize(header) else "↓"
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("id", justify="right")
    table.add_column(f"{objective} {arrow}", justify="right")
    tie = header.get("tie_breaker")  # ranks trials tied on the objective: shown beside it
    if tie:
        up = header.get("tie_breaker_direction") == "maximize"
        table.add_column(f"{tie} {'↑' if up else '↓'}", justify="right")
    fidelity = rungs.is_multi_fidelity(trials)
    if fidelity:
        table.add_column("budget", justify="right")
    table.add_column("params")
    for rank, trial in enumerate(ranked(header, trials)[:top], 1):
        params = ", ".join(f"{k}={fmt(v)}" for k, v in active_params(trial).items())
        tied = [fmt((trial.get("metrics") or {}).get(tie))] if tie else []
        budget = [fmt(rungs.budget(trial))] if fidelity else []
        table.add_row(str(rank), str(trial["id"]), fmt(trial["value"]), *tied, *budget, params)
    return table


def rungs_table(header: dict[str, Any], trials: Sequence[Record]) -> Table | None:
    """The rungs of every bracket as a rich table, or ``None`` for a single-fidelity sweep."""
    from rich.table import Table

    rows = rungs.rung_rows(header, trials)
    if not rows:
        return None
    table = Table(title="Rungs: each keeps the best configurations of the one before")
    columns = ("bracket", "rung", "budget", "trials", "complete", "promoted")
    for column in (*columns, "best"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns), fmt(row["best"]))
    return table


def print_summary(
    header: dict[str, Any], trials: Sequence[Record], console: Console | None = None
) -> None:
    """Prints the summary table, the best trial's command and its test metrics."""
    from rich.console import Console

    console = console or Console()
    console.print(summary_table(header, trials))
    table = rungs_table(header, trials)
    if table is not None:
        console.print(table)
    from hpfw.sweeper import importance  # scikit-learn: only when summarising

    console.print(importance.table(header, trials))
    best = best_trial(header, trials)
    if best is None:
        console.print(f"[yellow]{no_best_reason(trials)}[/yellow]", markup=True)
        return
    console.print(
        f"Best trial: #{best['id']} ({header.get('objective') or 'value'} = {fmt(best['value'])})"
    )
    # markup=False: overrides contain brackets (lists) that rich would eat as tags.
    console.print("Reproduce:", command_of(header, best), markup=False, soft_wrap=True)
    metrics = best.get("metrics") or {}
    tests = {k: v for k, v in sorted(metrics.items()) if k.startswith(TEST_PREFIX)}
    if tests:
        console.print(f"{TEST_LABEL}:", markup=False)
        for key, value in tests.items():
            console.print(f"  {key} = {fmt(value) or 'null'}", markup=False)
