"""``hpfw export DIR --optuna URL``: a sweep's journal as an Optuna study.

So optuna-dashboard and ``optuna.visualization`` work on any hpfw sweep: each
trial becomes a ``FrozenTrial`` with its parameters (inactive ones left out,
as Optuna records conditional spaces), distributions from the journal's
space, value, state, start and end, intermediate values where the sweep has
them, and hpfw's own fields as user attributes. Optuna loads only here.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpfw.errors import HpfwError
from hpfw.search.space import Categorical, Distribution, Float, from_json
from hpfw.sweeper.intermediate import intermediate_values
from hpfw.sweeper.journal import Journal, JournalError
from hpfw.sweeper.report_data import objectives
from hpfw.sweeper.reports import active_params
from hpfw.values import is_finite, is_number

RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
JOURNAL_SUFFIXES = (".log", ".jsonl")
ALLOWED = (
    "sqlite:///FILE.db (or another SQLAlchemy database URL: postgresql://..., mysql://...), "
    "or the path of an Optuna journal file ending in .log"
)

Record = dict[str, Any]


class ExportError(HpfwError):
    """The export cannot be written (a bad URL, a study already there, no Optuna)."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise ExportError("exporting to Optuna needs optuna: pip install 'hpfw[optuna]'") from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per study is noise here
    return optuna


def storage(url: str) -> Any:
    """Optuna's storage for ``url``: a database URL, or a journal file path."""
    optuna = _optuna()
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    try:
        if scheme in RDB_SCHEMES:
            return optuna.storages.RDBStorage(url)
        if not scheme and url.endswith(JOURNAL_SUFFIXES):
            from optuna.storages.journal import JournalFileBackend

            Path(url).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(url))
    except Exception as error:  # the database's own reason (no such folder, no driver, ...)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"cannot open Optuna storage {url!r}: {reason}") from error
    raise ExportError(f"bad --optuna {url!r}: allowed: {ALLOWED}")


def distribution(dist: Distribution) -> Any:
    """The Optuna distribution of an hpfw search-space value."""
    import optuna.distributions as od

    if isinstance(dist, Categorical):
        return od.CategoricalDistribution([_choice(c) for c in dist.choices])
    if isinstance(dist, Float):
        return od.FloatDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
    return od.IntDistribution(dist.low, dist.high, log=dist.log, step=dist.step)


def _choice(value: Any) -> Any:
    # Optuna's categorical choices are None, bool, int, float or str.
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def _time(text: Any) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def frozen_trial(
    sweep_dir: Path,
    header: Mapping[str, Any],
    trial: Record,
    dists: Mapping[str, Any],
    objective_names: Sequence[str],
) -> Any:
    """The ``FrozenTrial`` of one journal record."""
    optuna = _optuna()
    from optuna.trial import TrialState

    state = {
        "complete": TrialState.COMPLETE,
        "failed": TrialState.FAIL,
        "diverged": TrialState.FAIL,  # Optuna has no such state; the user attribute says it
        "running": TrialState.RUNNING,
    }.get(str(trial.get("state")), TrialState.FAIL)
    params = {k: _choice(v) for k, v in active_params(trial).items() if k in dists}
    values = None
    if state == TrialState.COMPLETE:
        if len(objective_names) > 1:
            metrics = trial.get("metrics") or {}
            values = [metrics.get(name) for name in objective_names]
        else:
            values = [trial.get("value")]
        if not all(is_finite(v) for v in values):
            state, values = TrialState.FAIL, None  # nothing Optuna could rank
    curve = intermediate_values(sweep_dir, trial, str(header.get("objective") or "objective"))
    attrs: dict[str, Any] = {
        "hpfw_id": trial.get("id"),
        "hpfw_job": trial.get("job"),
        "hpfw_state": trial.get("state"),
        "overrides": list(trial.get("overrides") or ()),
    }
    attrs.update(
        {k: v for k, v in (trial.get("metrics") or {}).items() if is_number(v) or v is None}
    )
    attrs.update({f"hpfw_{k}": v for k, v in (trial.get("info") or {}).items()})
    if trial.get("error"):
        attrs["error"] = trial["error"]
    if curve is not None:
        attrs["intermediate_metric"] = curve[0]
    frozen = optuna.trial.create_trial(
        state=state,
        values=values,
        params=params,
        distributions={k: dists[k] for k in params},
        user_attrs=json.loads(json.dumps(attrs, default=str)),  # Optuna stores JSON
        intermediate_values=curve[1] if curve is not None else None,
    )
    start, end = _time(trial.get("start")), _time(trial.get("end"))
    frozen.datetime_start = start or frozen.datetime_start
    if state != TrialState.RUNNING:
        frozen.datetime_complete = end or frozen.datetime_complete
    return frozen


def export(
    sweep_dir: Path, url: str, study_name: str | None = None, *, replace: bool = False
) -> tuple[str, int]:
    """Writes the sweep in ``sweep_dir`` to ``url`` as one study; returns its name and size."""
    optuna = _optuna()
    header, trials = Journal.locate(sweep_dir).read()
    sweep_dir = Path(sweep_dir)
    name = study_name or "/".join(sweep_dir.resolve().parts[-2:])
    target = storage(url)
    if name in optuna.get_all_study_names(target):
        if not replace:
            raise ExportError(
                f"study {name!r} already exists in {url}; pass --study-name NAME for another "
                "name, or --replace to overwrite it"
            )
        optuna.delete_study(study_name=name, storage=target)
    objs = objectives(header)
    dists = {}
    for param, raw in (header.get("space") or {}).items():
        try:
            dists[param] = distribution(from_json(raw))
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(f"{param}: cannot map its distribution to Optuna: {error}") from error
    study = optuna.create_study(
        storage=target, study_name=name, directions=[direction for _, direction in objs]
    )
    names = [n for n, _ in objs]
    study.add_trials([frozen_trial(sweep_dir, header, t, dists, names) for t in trials])
    for key in ("strategy", "seed", "command", "created", "objective"):
        if header.get(key) is not None:
            study.set_user_attr(f"hpfw_{key}", header[key])
    study.set_user_attr("hpfw_sweep_dir", str(sweep_dir.resolve()))
    return name, len(trials)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str]) -> int:
    """``hpfw export <sweep dir> --optuna URL [--study-name NAME] [--replace]``."""
    parser = _Parser(
        prog="hpfw export",
        description="Write a sweep's journal to an Optuna study (for optuna-dashboard and "
        "optuna.visualization).",
    )
    parser.add_argument("sweep_dir", help="the sweep directory (holding trials.jsonl)")
    parser.add_argument("--optuna", required=True, metavar="URL", help=ALLOWED)
    parser.add_argument("--study-name", help="default: the sweep directory's last two parts")
    parser.add_argument("--replace", action="store_true", help="overwrite a study of that name")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        name, count = export(
            Path(args.sweep_dir), args.optuna, args.study_name, replace=args.replace
        )
    except (ExportError, JournalError) as error:
        print(f"hpfw export: {error}", file=sys.stderr)
        return 2
    print(f"Exported {count} trials to Optuna study {name!r} in {args.optuna}")
    if args.optuna.endswith(JOURNAL_SUFFIXES) or args.optuna.startswith("sqlite"):
        print(f"View it: optuna-dashboard {args.optuna}")
    return 0
