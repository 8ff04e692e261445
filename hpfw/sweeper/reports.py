"""Sweep reports drawn from the journal alone: best.yaml, trials.csv and the plots.

The records here are the journal's plain JSON records (``journal.started`` /
``finished``), so the same functions serve a running sweep, a finished one
and ``hpfw report``. Heavy imports (matplotlib, rich, yaml) happen inside the
functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import csv
import math
import os
import shlex
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from hpfw.search.multifidelity.brackets import LINEAGE
from hpfw.sweeper import rungs
from hpfw.sweeper.journal import Journal
from hpfw.values import is_finite

BEST_FILE = "best.yaml"
CSV_FILE = "trials.csv"
STATES = ("complete", "pruned", "failed", "diverged", "running")

Record = dict[str, Any]


def maximize(header: dict[str, Any]) -> bool:
    return header.get("direction", "minimize") == "maximize"


def completed(trials: Iterable[Record]) -> list[Record]:
    """Complete, feasible trials with a finite value (anything else cannot be ranked)."""
    return [
        t
        for t in trials
        if t.get("state") == "complete"
        and is_finite(t.get("value"))
        and t.get("feasible", True) is not False  # met every hydra.sweeper.constraints
    ]


def tie_value(header: dict[str, Any], trial: Record) -> float:
    """The trial's tie-breaker metric as "lower is better"; inf when it has none.

    The header names the metric (``tie_breaker``) and its direction, as the
    sweep was configured (``hydra.sweeper.tie_breaker``); a header without one
    (or an older journal) ranks tied trials by id alone.
    """
    metric = header.get("tie_breaker")
    value = (trial.get("metrics") or {}).get(metric) if metric else None
    if not is_finite(value):
        return math.inf
    return -value if header.get("tie_breaker_direction") == "maximize" else value


def ranked(header: dict[str, Any], trials: Iterable[Record]) -> list[Record]:
    """Completed trials, best first.

    Trials tied on the objective (accuracy on a small split is coarse: 36
    samples give steps of 1/36) rank by the tie-breaker metric, then by id
    (found first). In a multi-fidelity sweep larger budgets rank first: a
    value after one epoch is no rival for a full run's (the incumbent rule of
    BOHB).
    """
    sign = -1.0 if maximize(header) else 1.0
    return sorted(
        completed(trials),
        key=lambda t: (-(rungs.budget(t) or 0), sign * t["value"], tie_value(header, t), t["id"]),
    )


def best_trial(header: dict[str, Any], trials: Sequence[Record]) -> Record | None:
    """The best completed trial in the sweep's direction, or ``None``.

    With ``hydra.sweeper.best_by=posterior`` (bayes) the trial with the best
    GP posterior mean, so one lucky noisy value does not win.
    """
    order = ranked(header, trials)
    if order and posterior(header):
        from hpfw.search.bayes.posterior import posterior_best  # JAX: only for such sweeps

        return posterior_best(header, order) or order[0]
    return order[0] if order else None


def posterior(header: dict[str, Any]) -> bool:
    """Whether the best trial is named by posterior mean: ``best_by=posterior`` (bayes).

    Only with one objective and no constraints: the posterior is the objective's.
    """
    options = header.get("options") or {}
    several = len(header.get("objectives") or ()) > 1 or bool(header.get("constraints"))
    bayes = header.get("strategy") == "bayes"
    return bayes and options.get("best_by") == "posterior" and not several


def active_params(trial: Record) -> dict[str, Any]:
    """The trial's parameters that applied to it (inactive ones left out)."""
    inactive = set(trial.get("inactive") or ())
    return {k: v for k, v in (trial.get("params") or {}).items() if k not in inactive}


def param_names(header: dict[str, Any], trials: Iterable[Record]) -> list[str]:
    """The space's names in its order, then any names only trials carry."""
    names = list(header.get("space") or {})
    for trial in trials:
        names.extend(k for k in trial.get("params") or {} if k not in names)
    return names


def counts(trials: Sequence[Record]) -> dict[str, int]:
    """How many trials are in each state."""
    found = dict.fromkeys(STATES, 0)
    for trial in trials:
        state = trial.get("state")
        found[state] = found.get(state, 0) + 1
    return found


def reproduce_command(header: dict[str, Any], trial: Record) -> str:
    """A shell command that reruns ``trial`` alone.

    ``header["command"]`` is kept as written (it may be ``python my_app.py``);
    each override is quoted only where the shell needs it. A Python sweep
    (``hpfw.sweep``) gets the call of its objective instead.
    """
    function = header.get("objective_function")
    if function:
        return _python_call(function, active_params(trial))
    overrides = [*(header.get("fixed_overrides") or ()), *(trial.get("overrides") or ())]
    command = header.get("command") or "hpfw"
    return " ".join([command, *(shlex.quote(str(o)) for o in overrides)])


def _python_call(function: str, params: dict[str, Any]) -> str:
    """``python -c`` that imports the objective and calls it with ``params`` (when importable)."""
    module, _, name = function.partition(":")
    call = f"{name}({params!r})"
    if module in ("__main__", "?") or "<" in name:
        return call  # a lambda or a script's function: the call alone
    top = name.split(".")[0]
    return "python -c " + shlex.quote(f"from {module} import {top}; print({call})")


def replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Writes via a temporary file and renames it, so a reader never sees half a file.

    The temporary name is the writer's own (process and thread), so drivers
    sharing a sweep can rewrite the same report at once: the last rename wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def import_drawing_libraries() -> None:
    """Imports what the final reports need: matplotlib, and scikit-learn's forests (fANOVA).

    About a second on this 2-core CPU; a sweep has it done while a batch trains
    (``hpfw.launch.idle``), not after its last batch.
    """
    import matplotlib.figure  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401


def write_reports(
    sweep_dir: str | Path,
    header: dict[str, Any] | None = None,
    trials: list[Record] | None = None,
    *,
    plots: bool = True,
) -> Record | None:
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
    _write_best(sweep_dir / BEST_FILE, header, best, trials)
    _write_csv(sweep_dir / CSV_FILE, header, trials)
    if plots:
        from hpfw.sweeper import plots as drawing  # matplotlib: only when drawing

        drawing.draw_all(sweep_dir, header, trials)
        from hpfw.sweeper import report_html  # the interactive page, with importances

        report_html.write_html(sweep_dir, header, trials)
    return best


def _write_best(
    path: Path, header: dict[str, Any], best: Record | None, trials: Sequence[Record]
) -> None:
    import yaml

    if best is None:
        path.unlink(missing_ok=True)
        return
    data = {
        "value": best["value"],
        "trial": best["id"],
        "params": active_params(best),
        "overrides": list(best.get("overrides") or ()),
        "command": reproduce_command(header, best),
        "metrics": dict(best.get("metrics") or {}),
    }
    if posterior(header):
        data["best_by"] = "posterior"  # why ``value`` need not be the lowest observed
    if header.get("objectives") and len(header["objectives"]) > 1:
        from hpfw.sweeper.front import entries  # several objectives: the Pareto front too

        data = {"objectives": dict(header["objectives"]), **data, "front": entries(header, trials)}
    # A wide line width keeps the command on one line, ready to copy.
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def table(header: dict[str, Any], trials: Sequence[Record]) -> tuple[list[str], list[list[Any]]]:
    """Every trial as a row of trials.csv: ``(columns, rows)``, rows in id order.

    Columns: id, job, state, value, the lineage of multi-fidelity trials
    (config, bracket, rung, budget), every parameter (blank where inactive),
    every metric, start, end and error. ``None`` where a trial has no value.
    """
    params = param_names(header, trials)
    metrics = sorted({k for t in trials for k in t.get("metrics") or {}})
    # Params and metrics could share a name; prefix metric columns only then.
    metric_cols = [f"metric_{m}" if m in params else m for m in metrics]
    lineage = list(LINEAGE) if rungs.is_multi_fidelity(trials) else []
    columns = ["id", "job", "state", "value", *lineage, *params, *metric_cols]
    columns += ["start", "end", "error"]
    rows = []
    for t in trials:
        active = active_params(t)
        values = t.get("metrics") or {}
        info = t.get("info") or {}
        rows.append(
            [
                t.get("id"),
                t.get("job"),
                t.get("state", ""),
                t.get("value"),
                *(info.get(k) for k in lineage),
                *(active.get(p) for p in params),
                *(values.get(m) for m in metrics),
                t.get("start"),
                t.get("end"),
                t.get("error"),
            ]
        )
    return columns, rows


def _write_csv(path: Path, header: dict[str, Any], trials: Sequence[Record]) -> None:
    columns, rows = table(header, trials)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows([_cell(v) for v in row] for row in rows)

    replace_atomically(path, write)


def _cell(value: Any) -> Any:
    # Full precision (repr) for floats: the CSV is for analysis, not display.
    return "" if value is None else value
