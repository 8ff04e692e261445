"""The sweep journal: JSON lines, last record wins, NaN as null, crash tolerance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hpfw.search.space import Float, Int, to_json
from hpfw.search.strategy import TrialState
from hpfw.sweeper.journal import Journal, JournalError, write_traceback

HEADER = {
    "strategy": "random",
    "direction": "minimize",
    "objective": "val_loss",
    "seed": 0,
    "n_trials": 4,
    "batch_size": 2,
    "space": {"lr": to_json(Float(1e-4, 1e-1, log=True)), "layers": to_json(Int(1, 4))},
    "groups": [],
    "fixed_overrides": ["trainer.epochs=1"],
    "command": "hpfw",
    "created": "2025-01-01T00:00:00+00:00",
}


def trial(id_: int, state: str = "running", value: float | None = None, **extra) -> dict:
    return {
        "type": "trial",
        "id": id_,
        "job": id_,
        "params": {"lr": 0.01, "layers": 2},
        "inactive": [],
        "overrides": ["lr=0.01", "layers=2"],
        "state": state,
        "value": value,
        "metrics": {},
        "start": "2025-01-01T00:00:00+00:00",
        "end": None,
        "error": None,
        "traceback": None,
        "info": {},
        **extra,
    }


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "sweep")
    j.write_header(HEADER)
    return j


def test_round_trip(journal: Journal) -> None:
    journal.append(trial(0))
    journal.append(trial(1, TrialState.complete, 0.5))
    header, trials = journal.read()
    assert header["type"] == "sweep" and header["version"] == 1
    assert header["space"] == HEADER["space"]
    assert [t["id"] for t in trials] == [0, 1]
    assert trials[1]["state"] == "complete" and trials[1]["value"] == 0.5
    assert trials[0] == trial(0)


def test_last_record_per_id_wins_and_sorted(journal: Journal) -> None:
    journal.append(trial(2))
    journal.append(trial(0))
    journal.append(trial(2, "complete", 1.5, end="2025-01-01T00:01:00+00:00"))
    journal.append(trial(0, "failed", error="boom"))
    _, trials = journal.read()
    assert [(t["id"], t["state"]) for t in trials] == [(0, "failed"), (2, "complete")]
    assert trials[0]["error"] == "boom"
    assert trials[1]["end"] == "2025-01-01T00:01:00+00:00"


def test_nan_and_inf_written_as_null(journal: Journal) -> None:
    journal.append(
        trial(0, "diverged", math.nan, metrics={"loss": math.inf, "acc": -math.inf, "ok": 1.0})
    )
    text = journal.path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    _, (record,) = journal.read()
    assert record["value"] is None
    assert record["metrics"] == {"loss": None, "acc": None, "ok": 1.0}


def test_file_is_plain_json_lines(journal: Journal) -> None:
    journal.append(trial(0, info={"rung": 1, "tags": ("a", "b")}))
    journal.append(trial(0, "complete", 0.25))
    raw = journal.path.read_bytes()
    assert not raw.startswith(b"\x80")  # no pickle protocol marker
    text = raw.decode("utf-8")  # plain UTF-8 text
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    assert [r["type"] for r in records] == ["sweep", "trial", "trial"]
    assert records[1]["info"] == {"rung": 1, "tags": ["a", "b"]}


def test_torn_last_line_is_ignored_and_repaired(journal: Journal) -> None:
    journal.append(trial(0, "complete", 0.1))
    with open(journal.path, "a") as f:
        f.write('{"type": "trial", "id": 1, "sta')  # crash mid-write, no newline
    header, trials = journal.read()
    assert header["strategy"] == "random"
    assert [t["id"] for t in trials] == [0]

    resumed = Journal(journal.sweep_dir)
    resumed.repair()
    assert journal.path.read_text().endswith("\n")
    resumed.append(trial(1, "complete", 0.2))
    resumed.append(trial(2))
    _, trials = resumed.read()
    assert [(t["id"], t["value"]) for t in trials] == [(0, 0.1), (1, 0.2), (2, None)]
    assert all(json.loads(line) for line in journal.path.read_text().splitlines())


def test_append_repairs_torn_line_by_itself(journal: Journal) -> None:
    with open(journal.path, "a") as f:
        f.write('{"type": "trial", "id": 0')
    Journal(journal.sweep_dir).append(trial(0, "complete", 0.3))
    _, trials = journal.read()
    assert [(t["id"], t["value"]) for t in trials] == [(0, 0.3)]


def test_invalid_final_line_with_newline_is_ignored(journal: Journal) -> None:
    journal.append(trial(0))
    with open(journal.path, "a") as f:
        f.write("garbage\n")
    _, trials = journal.read()
    assert [t["id"] for t in trials] == [0]
    journal.repair()
    assert journal.path.read_text().count("\n") == 2


def test_valid_last_line_missing_newline_is_completed(journal: Journal) -> None:
    journal.path.write_text(journal.path.read_text() + json.dumps(trial(0)))
    Journal(journal.sweep_dir).append(trial(1))
    _, trials = journal.read()
    assert [t["id"] for t in trials] == [0, 1]


def test_corrupt_middle_line_names_line_number(journal: Journal) -> None:
    journal.append(trial(0))
    with open(journal.path, "a") as f:
        f.write("{not json}\n")
    journal.append(trial(1))
    with pytest.raises(JournalError, match="line 3"):
        journal.read()


def test_missing_header_or_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError):
        Journal(tmp_path).read()
    (tmp_path / Journal.FILENAME).write_text(json.dumps(trial(0)) + "\n" + json.dumps(trial(1)))
    with pytest.raises(JournalError, match="header"):
        Journal(tmp_path).read()
    (tmp_path / Journal.FILENAME).write_text("")
    with pytest.raises(JournalError, match="no sweep header"):
        Journal(tmp_path).read()


def test_write_header_refuses_existing_journal(journal: Journal) -> None:
    before = journal.path.read_text()
    with pytest.raises(FileExistsError):
        Journal(journal.sweep_dir).write_header(HEADER)
    assert journal.path.read_text() == before


def test_write_header_over_empty_file(tmp_path: Path) -> None:
    (tmp_path / Journal.FILENAME).touch()
    j = Journal(tmp_path)
    j.write_header(HEADER)
    assert j.read() == ({"type": "sweep", "version": 1, **HEADER}, [])


def test_numpy_values_become_plain_json(journal: Journal) -> None:
    np = pytest.importorskip("numpy")
    journal.append(trial(0, "complete", np.float32(0.5), metrics={"n": np.int64(3)}))
    _, (record,) = journal.read()
    assert record["value"] == 0.5 and record["metrics"] == {"n": 3}


def test_write_traceback(tmp_path: Path) -> None:
    rel = write_traceback(tmp_path, 7, "Traceback ...\nValueError: boom\n")
    assert rel == "tracebacks/trial_7.txt"
    assert (tmp_path / rel).read_text().endswith("boom\n")
