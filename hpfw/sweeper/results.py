"""A sweep's results in Python: ``hpfw.load(directory)`` and what ``hpfw.sweep`` returns.

Everything is read from the journal (``trials.jsonl``) with the same functions
the reports use, so ``best``, the trials table and the plots equal what
best.yaml, trials.csv and the PNGs show. A running sweep can be opened too;
``reload()`` reads the journal again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpfw.sweeper import reports
from hpfw.sweeper.intermediate import curve
from hpfw.sweeper.journal import Journal

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class TrialResult:
    """One trial as the journal last recorded it."""

    id: int
    job: int
    state: str  # running, complete, pruned, failed or diverged
    params: dict[str, Any]  # the parameters that applied to it (inactive ones left out)
    value: float | None  # the objective, when complete
    metrics: dict[str, Any] = field(default_factory=dict)  # every number it returned
    info: dict[str, Any] = field(default_factory=dict)  # the strategy's notes (rung, budget, ...)
    error: str | None = None
    start: str | None = None
    end: str | None = None
    record: dict[str, Any] = field(default_factory=dict, repr=False)  # the journal record

    @property
    def intermediate(self) -> list[tuple[int, float | None]]:
        """The values it reported with ``hpfw.report``: ``[(step, value), ...]``."""
        return curve(self.record)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrialResult:
        return cls(
            id=record["id"],
            job=record["job"],
            state=record["state"],
            params=reports.active_params(record),
            value=record.get("value"),
            metrics=dict(record.get("metrics") or {}),
            info=dict(record.get("info") or {}),
            error=record.get("error"),
            start=record.get("start"),
            end=record.get("end"),
            record=record,
        )


class SweepResult:
    """A sweep directory, opened: its settings, its trials and the best of them."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.reload()

    def reload(self) -> SweepResult:
        """Reads the journal again (a sweep that is still running has moved on)."""
        self.header, self._records = Journal(self.directory).read()
        self.trials = [TrialResult.from_record(r) for r in self._records]
        return self

    def __repr__(self) -> str:
        found = reports.counts(self._records)
        states = ", ".join(f"{n} {s}" for s, n in found.items() if n)
        return f"SweepResult({str(self.directory)!r}: {len(self.trials)} trials, {states})"

    @property
    def direction(self) -> str:
        return str(self.header.get("direction", "minimize"))

    @property
    def best(self) -> TrialResult | None:
        """The best completed trial (best.yaml's), or None before any completed."""
        best = reports.best_trial(self.header, self._records)
        return TrialResult.from_record(best) if best is not None else None

    def trial(self, trial_id: int) -> TrialResult:
        for trial in self.trials:
            if trial.id == trial_id:
                return trial
        raise KeyError(f"no trial {trial_id} in {self.directory}")

    def table(self) -> Any:
        """trials.csv's table: a pandas DataFrame if pandas is installed, else a list of dicts."""
        columns, rows = reports.table(self.header, self._records)
        try:
            import pandas
        except ImportError:
            return [dict(zip(columns, row, strict=True)) for row in rows]
        return pandas.DataFrame(rows, columns=columns)

    def reproduce_command(self, trial: TrialResult | int) -> str:
        """The command that reruns ``trial`` alone (best.yaml's ``command``)."""
        chosen = self.trial(trial) if isinstance(trial, int) else trial
        return reports.reproduce_command(self.header, chosen.record)

    def plot_history(self) -> Figure:
        """history.png's figure: the objective per trial and the best so far."""
        from hpfw.sweeper.plots import history_figure

        return history_figure(self.header, self._records)[0]

    def plot_params(self) -> Figure:
        """params.png's figure: the objective against each parameter."""
        from hpfw.sweeper.plots import params_figure

        return params_figure(self.header, self._records)[0]

    def plot_curves(self) -> Figure:
        """curves.png's figure: each trial's reported values by step, pruned ones marked."""
        from hpfw.sweeper.curves import curves_figure

        return curves_figure(self.header, self._records, self.directory)[0]


def load(directory: str | os.PathLike[str]) -> SweepResult:
    """Opens the sweep in ``directory`` (finished or running, from the CLI or Python).

    Raises ``FileNotFoundError`` when ``directory`` holds no ``trials.jsonl``.
    """
    path = Path(directory)
    if path.is_file() and path.name == Journal.FILENAME:
        path = path.parent
    if not (path / Journal.FILENAME).is_file():
        raise FileNotFoundError(f"no sweep in {path}: it has no {Journal.FILENAME}")
    return SweepResult(path)
