"""The sweep's crash-safe journal: ``<sweep dir>/trials.jsonl``, the single source of truth.

One JSON object per line. The first line is the sweep header (``"type": "sweep"``);
every other line is a trial record (``"type": "trial"``), built by ``started``
when the trial is launched and by ``finished`` when it ends: the record schema
lives here and nowhere else. The last record of an id wins, so the file is
append-only and never rewritten in place. Drivers write it under the sweep's
lock (``hpfw.sweeper.drivers.SweepLock``), so several drivers can share one
sweep; readers need no lock. It is plain JSON, never pickle or eval, so it can
be read (and trusted) by anything.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpfw.errors import HpfwError

VERSION = 1
TRACEBACK_DIR = "tracebacks"
RUNNING = "running"


class JournalError(HpfwError):
    """The journal is missing, has no header, or has a corrupt line before its end."""


def now_iso() -> str:
    """The current local time with its UTC offset, to the second (for ``start``/``end``)."""
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def started(
    trial_id: int,
    job: int,
    params: Mapping[str, Any],
    *,
    info: Mapping[str, Any] | None = None,
    inactive: Iterable[str] = (),
    overrides: Sequence[str] = (),
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """The record of a trial launched now as job ``job``: state ``running``.

    ``overrides`` are the trial's own command-line overrides (a Hydra sweep's;
    empty for a Python objective) and ``checkpoint`` the directory a
    multi-fidelity trial continues from, when it has one.
    """
    record: dict[str, Any] = {
        "type": "trial",
        "id": int(trial_id),
        "job": int(job),
        "params": dict(params),
        "inactive": sorted(inactive),
        "overrides": list(overrides),
        "state": RUNNING,
        "value": None,
        "metrics": {},
        "start": now_iso(),
        "end": None,
        "error": None,
        "traceback": None,
        "info": dict(info or {}),
    }
    if checkpoint is not None:
        record["checkpoint"] = checkpoint
    return record


def finished(
    record: Mapping[str, Any],
    state: str,
    value: float | None,
    metrics: Mapping[str, Any],
    *,
    error: str | None = None,
    traceback: str | None = None,
    intermediate: Sequence[tuple[int, float | None]] = (),
    intermediate_metrics: Mapping[str, Sequence[tuple[int, float | None]]] | None = None,
) -> dict[str, Any]:
    """``record`` after its trial ended: its state, value, metrics, end time and error.

    ``intermediate`` (``hpfw.report``'s values, ``[[step, value], ...]``, null
    for NaN) and ``intermediate_metrics`` (``{name: [[step, value], ...]}``)
    are left out when the trial reported nothing (``sweeper.intermediate``).
    """
    done = {
        **record,
        "state": str(state),
        "value": value,
        "metrics": dict(metrics),
        "end": now_iso(),
        "error": error,
        "traceback": traceback,
    }
    if intermediate:
        done["intermediate"] = [[int(s), v] for s, v in intermediate]
    if intermediate_metrics:
        done["intermediate_metrics"] = {
            str(k): [[int(s), v] for s, v in pairs] for k, pairs in intermediate_metrics.items()
        }
    return done


def sanitize(value: Any) -> Any:
    """``value`` as plain JSON data: NaN and inf become ``None`` (JSON has no NaN).

    Numpy/JAX scalars and arrays become Python numbers and lists, so a metric
    returned straight from a training step can be journalled as is.
    """
    if value is None or isinstance(value, (bool, str)):
        # str() drops StrEnum-ness (TrialState) so the file holds plain strings.
        return str(value) if isinstance(value, str) else value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [sanitize(v) for v in items]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    # Numpy and JAX scalars/arrays, without importing either.
    if hasattr(value, "tolist"):
        return sanitize(value.tolist())
    if hasattr(value, "item"):
        return sanitize(value.item())
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to the journal")


def _dumps(record: Mapping[str, Any]) -> str:
    # allow_nan=False makes a NaN that slipped past sanitize an error, not invalid JSON.
    return json.dumps(sanitize(record), allow_nan=False, ensure_ascii=False)


def _fsync_dir(path: Path) -> None:
    # Makes a newly created file's directory entry durable too (POSIX only).
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object on ``line``, or ``None`` when it is not one."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Journal:
    """Reads and appends to ``<sweep dir>/trials.jsonl``."""

    FILENAME = "trials.jsonl"

    def __init__(self, sweep_dir: str | Path) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.path = self.sweep_dir / self.FILENAME
        self._repaired = False

    def __repr__(self) -> str:
        return f"Journal({str(self.sweep_dir)!r})"

    @classmethod
    def locate(cls, path: str | Path) -> Journal:
        """The journal of the sweep directory ``path`` (or of ``path``, the journal itself).

        Raises ``JournalError`` naming the path when there is no sweep there, for
        commands that take a sweep directory (``hpfw report``, ``hpfw export``).
        """
        sweep_dir = Path(path)
        if sweep_dir.is_file() and sweep_dir.name == cls.FILENAME:
            sweep_dir = sweep_dir.parent  # the journal itself was named
        if not sweep_dir.is_dir():
            raise JournalError(f"no such directory: {sweep_dir}")
        journal = cls(sweep_dir)
        if not journal.exists():
            raise JournalError(f"no {cls.FILENAME} in {sweep_dir} (not a sweep directory?)")
        return journal

    def exists(self) -> bool:
        return self.path.is_file()

    def write_header(self, header: dict[str, Any]) -> None:
        """Creates the journal with ``header`` as its first line.

        Refuses when a journal with content is already there: overwriting it
        would lose every finished trial of an earlier sweep.
        """
        if header.get("type", "sweep") != "sweep":
            raise ValueError(f"a journal header has type 'sweep', got {header.get('type')!r}")
        if self.path.exists() and self.path.stat().st_size > 0:
            raise FileExistsError(f"a sweep journal already exists at {self.path}")
        data = {"type": "sweep", "version": VERSION, **header}
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(_dumps(data) + "\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(self.sweep_dir)
        self._repaired = True

    def append(self, record: dict[str, Any]) -> None:
        """Appends ``record`` as one line, flushed and fsynced before returning.

        A record carries ``"type": "trial"`` unless it says otherwise. The first
        append of this object repairs a torn last line left by a crash, so the
        new line cannot be glued onto it.
        """
        self.append_many([record])

    def append_many(self, records: list[dict[str, Any]]) -> None:
        """Appends ``records`` with one write and one fsync (a launched batch at once).

        With several drivers, call it under the sweep's lock: another driver
        killed mid-write may have left a torn line, which is repaired first.
        """
        if not self.exists():
            raise JournalError(f"no sweep journal at {self.path}; write_header first")
        if not self._repaired or not self._ends_with_newline():
            self.repair()
        # Serialise first: a bad record must not leave half a line.
        text = "".join(_dumps({"type": "trial", **record}) + "\n" for record in records)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _lines(self) -> list[bytes]:
        if not self.exists():
            raise JournalError(f"no sweep journal at {self.path}")
        return self.path.read_bytes().split(b"\n")

    def read(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The header and the latest record of each trial id, sorted by id.

        An invalid last line (the sweeper died mid-write) is ignored; an
        invalid line anywhere else means the file was damaged and raises.
        """
        lines = self._lines()
        numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
        header: dict[str, Any] | None = None
        latest: dict[int, dict[str, Any]] = {}
        for k, (lineno, line) in enumerate(numbered):
            data = parse_line(line)
            if data is None:
                if k == len(numbered) - 1:
                    break  # torn final line: the write never completed
                raise JournalError(f"{self.path}: line {lineno} is not a JSON object")
            if header is None:
                header = check_header(data, self.path, lineno)
                continue
            if data.get("type") != "trial":
                continue  # other line kinds are for later versions; skip rather than fail
            latest[trial_id(data, self.path, lineno)] = data
        if header is None:
            raise JournalError(f"{self.path} has no sweep header")
        return header, [latest[i] for i in sorted(latest)]

    def repair(self) -> None:
        """Drops an invalid (torn) last line and ends the file with a newline.

        Called before appending on resume, so the next record starts a fresh
        line instead of extending the broken one into a corrupt middle line.
        """
        if not self.exists():
            self._repaired = True
            return
        raw = self.path.read_bytes()
        keep = len(raw)
        body = raw.rstrip(b"\n")
        start = body.rfind(b"\n") + 1
        last = body[start:]
        if last.strip() and parse_line(last) is None:
            keep = start
        elif raw and not raw.endswith(b"\n"):
            keep = -1  # a valid last line whose newline was lost: add it
        if keep == -1:
            with open(self.path, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
        elif keep < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
        self._repaired = True


def check_header(data: dict[str, Any], path: Path, lineno: int) -> dict[str, Any]:
    """``data`` if it is a header this hpfw reads; a ``JournalError`` otherwise."""
    if data.get("type") != "sweep":
        raise JournalError(
            f"{path}: line {lineno} should be the sweep header "
            f"(type 'sweep'), got type {data.get('type')!r}"
        )
    version = data.get("version", VERSION)
    if not isinstance(version, int) or version > VERSION:
        raise JournalError(
            f"{path}: journal version {version!r} is newer than this hpfw reads ({VERSION})"
        )
    return data


def trial_id(data: dict[str, Any], path: Path, lineno: int) -> int:
    """A trial record's integer id; a ``JournalError`` when it has none."""
    found = data.get("id")
    if not isinstance(found, int) or isinstance(found, bool):
        raise JournalError(f"{path}: line {lineno} has no integer trial id")
    return found


def write_traceback(sweep_dir: str | Path, trial_id: int, text: str) -> str:
    """Writes a failed trial's traceback; returns its path relative to ``sweep_dir``.

    Tracebacks live in their own files so the journal lines stay short.
    """
    relative = f"{TRACEBACK_DIR}/trial_{int(trial_id)}.txt"
    path = Path(sweep_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return relative
