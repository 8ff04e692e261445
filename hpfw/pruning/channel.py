"""A trial's channel: its reported values in a file of the sweep directory, and its pruner.

Each launched trial (each job) writes ``<sweep dir>/intermediate/<job>.jsonl``
and no other process writes it, so it needs no lock and works on any shared
file system: one JSON object per line, opened, appended and closed per report
(NFS shows other machines a file's new content when it is closed):

    {"trial": 3, "job": 7}                                  first line: whose file it is
    {"step": 1, "value": 0.91, "metrics": {"train_loss": 0.4}}
    {"pruned": 3}                                           should_prune() said yes at step 3

The driver wrote the trial's ``running`` record (with its job number) and the
sweep's pruner (in the journal header) before launching it, so the trial finds
its id and pruner in the journal, reads the other trials' files, and decides
in its own process: the driver may be blocked in ``launcher.launch()``
meanwhile, or on another machine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpfw.pruning.pruners import Curve, Pruner, make_pruner
from hpfw.sweeper.journal import parse_line, sanitize
from hpfw.sweeper.objectives import Objectives
from hpfw.sweeper.tail import JournalTail
from hpfw.values import is_number

log = logging.getLogger("hpfw.pruning")

INTERMEDIATE_DIR = "intermediate"


def channel_path(sweep_dir: str | Path, job: int) -> Path:
    return Path(sweep_dir) / INTERMEDIATE_DIR / f"{int(job)}.jsonl"


@dataclass
class Reported:
    """What one job's channel file holds."""

    trial: int | None = None
    values: dict[int, float] = field(default_factory=dict)  # step -> value (NaN allowed)
    metrics: dict[str, dict[int, float]] = field(default_factory=dict)  # name -> step -> value
    pruned_at: int | None = None  # the step at which should_prune() said yes
    offset: int = 0  # bytes read so far (complete lines only)

    def read_more(self, path: Path) -> None:
        """Adds the complete lines written to ``path`` since the last read."""
        try:
            with open(path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1
        for line in chunk[:end].split(b"\n")[:-1]:
            data = parse_line(line)
            if data is None:
                continue  # not ours to judge: skip a damaged line, keep the rest
            if "trial" in data and isinstance(data["trial"], int):
                self.trial = data["trial"]
            elif "pruned" in data:
                self.pruned_at = data["pruned"]
            elif isinstance(data.get("step"), int):
                value = data.get("value")
                self.values[data["step"]] = float(value) if is_number(value) else math.nan
                for name, number in (data.get("metrics") or {}).items():
                    number = float(number) if is_number(number) else math.nan
                    self.metrics.setdefault(name, {})[data["step"]] = number
        self.offset += end


def read_reports(sweep_dir: str | Path, job: int) -> Reported:
    """Everything the trial launched as ``job`` reported (nothing if it never reported)."""
    reported = Reported()
    reported.read_more(channel_path(sweep_dir, job))
    return reported


class SweepView:
    """What a trial reads of its sweep: the header, the trials' states and every curve.

    One per sweep directory and process (``shared``): trials side by side in a
    process read the journal and the other files once between them.
    """

    _shared: dict[Path, SweepView] = {}
    _shared_lock = threading.Lock()

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.tail = JournalTail(sweep_dir)
        self._files: dict[str, Reported] = {}
        self.lock = threading.RLock()

    @classmethod
    def shared(cls, sweep_dir: Path) -> SweepView:
        key = sweep_dir.resolve()
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(sweep_dir)
            return cls._shared[key]

    def update(self) -> None:
        with self.lock:
            self.tail.update()

    def curves(self, exclude: int | None = None, metrics: bool = False) -> list[Curve]:
        """Every trial's reported values (its latest launch), with its journal state.

        ``metrics`` copies each trial's other numbers too (a pruner comparing
        several objectives reads them; one objective needs only the values).
        """
        with self.lock:
            return self._curves(exclude, metrics)

    def _curves(self, exclude: int | None, metrics: bool) -> list[Curve]:
        self.tail.update()
        folder = self.sweep_dir / INTERMEDIATE_DIR
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        by_trial: dict[int, tuple[int, Reported]] = {}
        for entry in entries:
            if not entry.name.endswith(".jsonl"):
                continue
            reported = self._files.setdefault(entry.name, Reported())
            if entry.stat().st_size > reported.offset:
                reported.read_more(Path(entry.path))
            job = int(entry.name.split(".")[0]) if entry.name.split(".")[0].isdigit() else -1
            if reported.trial is None or reported.trial == exclude:
                continue
            if reported.trial not in by_trial or by_trial[reported.trial][0] < job:
                by_trial[reported.trial] = (job, reported)
        states = {i: r.get("state", "running") for i, r in self.tail.latest.items()}
        return [
            Curve(
                trial,
                dict(r.values),
                states.get(trial, "running"),
                metrics=_copy(r.metrics) if metrics else {},
            )
            for trial, (_, r) in sorted(by_trial.items())
        ]

    def completed(self, exclude: int | None = None) -> list[Curve]:
        """The completed trials' curves, from their journal records (no directory scan)."""
        with self.lock:
            self.tail.update()
            latest = list(self.tail.latest.items())
        found = []
        for trial, record in latest:
            if record.get("state") != "complete" or trial == exclude:
                continue
            values = _steps(record.get("intermediate"))
            metrics = {
                str(k): _steps(v) for k, v in (record.get("intermediate_metrics") or {}).items()
            }
            found.append(Curve(trial, values, "complete", metrics=metrics))
        return found


def _steps(points: Any) -> dict[int, float]:
    """``[[step, value], ...]`` from the journal (null for NaN) as ``step -> value``."""
    return {int(s): float(v) if is_number(v) else math.nan for s, v in points or ()}


def _copy(metrics: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
    return {name: dict(steps) for name, steps in metrics.items()}


class TrialChannel:
    """One running trial's ``report`` and ``should_prune``; inactive outside an hpfw sweep."""

    def __init__(self, sweep_dir: str | Path, job: int, trial: int | None = None) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.job = int(job)
        self.path = channel_path(self.sweep_dir, self.job)
        self.trial = trial
        self.curve = Curve(-1 if trial is None else trial, {})
        self.pruned_at: int | None = None
        self.objectives: dict[str, str] = {}  # the sweep's, name -> direction, in order
        self._pruner: Pruner | None = None
        self._view: SweepView | None = None
        self._resolved = False
        self.active = False
        self._lock = threading.Lock()  # trials side by side may share nothing but this object

    def _resolve(self) -> None:
        """Finds the sweep's header and this job's trial in the journal, once."""
        if self._resolved:
            return
        self._resolved = True
        view = SweepView.shared(self.sweep_dir)
        with view.lock:
            view.update()
            header = view.tail.header
            latest = list(view.tail.latest.values())
        if header is None:
            return  # no hpfw journal here: another sweeper's job, or not a sweep
        if self.trial is None:
            mine = [r for r in latest if r.get("job") == self.job]
            if not mine:
                return
            self.trial = int(mine[-1]["id"])
        self.curve.trial = self.trial
        self._view = view
        self.active = True
        declared = Objectives.from_header(header)
        self.objectives = dict(zip(declared.names, declared.directions, strict=True))
        settings = header.get("pruner")
        if settings:
            direction = str(header.get("direction", "minimize"))
            self._pruner = make_pruner(
                settings, direction=direction, seed=int(header["seed"]), objectives=self.objectives
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write({"trial": self.trial, "job": self.job}, mode="w")

    @property
    def resolved(self) -> bool:
        """Whether it has looked for its sweep yet (``active`` says if it found one)."""
        return self._resolved

    def sweep_objectives(self) -> dict[str, str]:
        """The sweep's objectives (name -> direction, in order); empty outside a sweep."""
        with self._lock:
            self._resolve()
            return dict(self.objectives)

    @property
    def can_prune(self) -> bool:
        """Whether the sweep has a pruner (so ``should_prune`` may ever say yes)."""
        with self._lock:
            self._resolve()
            return self._pruner is not None

    def _write(self, data: dict[str, Any], mode: str = "a") -> None:
        with open(self.path, mode, encoding="utf-8") as f:
            f.write(json.dumps(sanitize(data), allow_nan=False) + "\n")

    def report(
        self,
        step: int,
        value: float | Mapping[str, float] | Sequence[float],
        metrics: dict[str, float] | None = None,
    ) -> None:
        """Records ``value`` at ``step``: a number (the first objective's), or every
        objective's (``objective_values``: a mapping by name or a sequence in order)."""
        with self._lock:
            self._resolve()
            if not self.active:
                return
            if step in self.curve.values:
                log.warning("trial %s already reported step %d; ignoring it", self.trial, step)
                return
            if not isinstance(value, float | int):
                value, metrics = objective_values(value, metrics or {}, self.objectives)
            self.curve.values[step] = float(value)
            line: dict[str, Any] = {"step": step, "value": float(value)}
            if metrics:
                line["metrics"] = {k: float(v) for k, v in metrics.items()}
                for name, number in line["metrics"].items():
                    self.curve.metrics.setdefault(name, {})[step] = number
            self._write(line)

    def should_prune(self) -> bool:
        with self._lock:
            self._resolve()
            if self.pruned_at is not None:
                return True
            if self._pruner is None or self._view is None or not self.curve.values:
                return False
            view, trial, multi = self._view, self.trial, self._pruner.multi
            try:
                prune = self._pruner.prune(
                    self.curve,
                    lambda: view.curves(exclude=trial, metrics=multi),
                    lambda: view.completed(exclude=trial),
                )
            except Exception as error:  # a pruner must never kill the trial it judges
                log.warning("pruner %s failed (%s); not pruning", self._pruner.name, error)
                return False
            if prune:
                self.pruned_at = max(self.curve.values)
                self._write({"pruned": self.pruned_at})
            return prune


def objective_values(
    value: Mapping[str, float] | Sequence[float],
    metrics: Mapping[str, float],
    objectives: Mapping[str, str],
) -> tuple[float, dict[str, float]]:
    """Every objective's value at a step as (the first objective's, the other numbers).

    The others are kept as metrics under their objective's name, where the
    pruners find them (``hpfw.pruning.vectors``); a mapping's entries that
    are no objective are metrics too. Raises ``ValueError`` (one line) when
    the first objective is missing or a sequence does not hold one per objective.
    """
    names = list(objectives)
    if isinstance(value, Mapping):
        numbers = {str(k): float(v) for k, v in value.items()}
        if names[0] not in numbers:
            raise ValueError(
                f"hpfw.report: the values must include the first objective {names[0]!r} "
                f"(objectives: {', '.join(names)}); got {', '.join(numbers) or 'none'}"
            )
    else:
        items = [float(v) for v in value]
        if len(items) != len(names):
            raise ValueError(
                f"hpfw.report: got {len(items)} values for {len(names)} objective(s) "
                f"({', '.join(names)}); give one per objective in that order, or a mapping"
            )
        numbers = dict(zip(names, items, strict=True))
    first = numbers.pop(names[0])
    return first, {**metrics, **numbers}
