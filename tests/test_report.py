"""Sweep reports: best.yaml, trials.csv, the plots and ``hpfw report``, from a journal alone."""

from __future__ import annotations

import csv
import math
import shlex
from pathlib import Path

import pytest
import yaml

from hpfw.cli import report as main
from hpfw.search.space import Categorical, Float, Int, to_json
from hpfw.sweeper.journal import Journal
from hpfw.sweeper.plots import history_figure, params_figure
from hpfw.sweeper.reports import best_trial, reproduce_command, write_reports
from hpfw.sweeper.summary import TEST_LABEL, print_summary, summary_table

PNG = b"\x89PNG\r\n\x1a\n"
FILES = ("best.yaml", "trials.csv", "history.png", "params.png")


def make_header(direction: str = "minimize") -> dict:
    return {
        "strategy": "random",
        "direction": direction,
        "objective": "val_loss",
        "seed": 0,
        "n_trials": 6,
        "batch_size": 2,
        "space": {
            "optim.lr": to_json(Float(1e-4, 1e-1, log=True)),
            "model.layers": to_json(Int(1, 4)),
            "model": to_json(Categorical(["mlp", "cnn"])),
        },
        "groups": ["model"],
        "fixed_overrides": ["trainer.epochs=2", "data.name=digits"],
        "command": "python my_app.py",
        "created": "2025-01-01T00:00:00+00:00",
    }


def make_trial(id_, state, value, lr, layers, model, inactive=(), **extra) -> dict:
    params = {"optim.lr": lr, "model.layers": layers, "model": model}
    overrides = [f"{k}={v}" for k, v in params.items() if k not in inactive]
    return {
        "id": id_,
        "job": id_,
        "params": params,
        "inactive": list(inactive),
        "overrides": overrides,
        "state": state,
        "value": value,
        "metrics": {"val_acc": None if value is None else 1 - value},
        "start": "2025-01-01T00:00:00+00:00",
        "end": "2025-01-01T00:01:00+00:00",
        "error": None,
        "traceback": None,
        "info": {},
        **extra,
    }


TRIALS = [
    make_trial(0, "complete", 0.40, 1e-3, 2, "mlp"),
    make_trial(1, "complete", 0.20, 3e-3, 3, "mlp", metrics={"val_acc": 0.8, "test_acc": 0.79}),
    make_trial(2, "failed", None, 1e-2, 1, "cnn", error="ValueError: boom"),
    make_trial(3, "diverged", None, 9e-2, 4, "mlp"),
    make_trial(4, "complete", 0.90, 2e-4, 1, "cnn", inactive=("model.layers",)),
    make_trial(5, "complete", 0.30, 5e-3, 2, "cnn", inactive=("model.layers",)),
]


def build(tmp_path: Path, direction: str = "minimize", trials=TRIALS) -> Path:
    sweep = tmp_path / direction
    journal = Journal(sweep)
    journal.write_header(make_header(direction))
    for t in trials:
        journal.append({**t, "state": "running", "value": None, "end": None})
        journal.append(t)
    return sweep


@pytest.mark.parametrize(("direction", "best_id"), [("minimize", 1), ("maximize", 4)])
def test_write_reports(tmp_path: Path, direction: str, best_id: int) -> None:
    sweep = build(tmp_path, direction)
    best = write_reports(sweep)
    assert best is not None and best["id"] == best_id
    for name in FILES:
        assert (sweep / name).stat().st_size > 0, name
    for name in ("history.png", "params.png"):
        assert (sweep / name).read_bytes().startswith(PNG)
    assert not list(sweep.glob(".*.tmp"))

    data = yaml.safe_load((sweep / "best.yaml").read_text())
    assert data["trial"] == best_id
    assert data["value"] == TRIALS[best_id]["value"]
    assert data["overrides"] == TRIALS[best_id]["overrides"]
    assert data["command"].startswith("python my_app.py trainer.epochs=2")
    if best_id == 4:  # the inactive param is left out of the best params
        assert data["params"] == {"optim.lr": 2e-4, "model": "cnn"}
        assert data["metrics"]["val_acc"] == pytest.approx(0.1)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_plots_draw_the_journals_values(tmp_path: Path, direction: str) -> None:
    header, trials = Journal(build(tmp_path, direction)).read()
    done = [t for t in trials if t["state"] == "complete"]
    ids, values = [t["id"] for t in done], [t["value"] for t in done]
    pick = min if direction == "minimize" else max
    best = [pick(values[: k + 1]) for k in range(len(values))]

    fig, series = history_figure(header, trials)
    assert series == {"ids": ids, "values": values, "best_so_far": best}
    points, steps = fig.axes[0].lines[:2]  # what is on the figure is what was returned
    assert points.get_xdata().tolist() == ids and points.get_ydata().tolist() == values
    assert steps.get_ydata().tolist() == best

    fig, drawn = params_figure(header, trials)
    assert set(drawn) == {"optim.lr", "model.layers", "model"}
    for name, pairs in drawn.items():
        active = [t for t in done if name not in t["inactive"]]
        assert pairs == [(t["params"][name], t["value"]) for t in active], name
        (ax,) = [a for a in fig.axes if a.get_title() == name]
        assert ax.lines[0].get_ydata().tolist() == [t["value"] for t in active]
        if name != "model":  # numbers are drawn at their values, categories at positions
            assert ax.lines[0].get_xdata().tolist() == [t["params"][name] for t in active]
    assert [v for v, _ in drawn["model.layers"]] == [2, 3]  # inactive for trials 4 and 5


def test_write_reports_without_plots(tmp_path: Path) -> None:
    sweep = build(tmp_path)
    assert write_reports(sweep, plots=False)["id"] == 1
    assert (sweep / "best.yaml").exists() and (sweep / "trials.csv").exists()
    assert not (sweep / "history.png").exists() and not (sweep / "params.png").exists()


def test_trials_csv(tmp_path: Path) -> None:
    sweep = build(tmp_path)
    write_reports(sweep)
    with open(sweep / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(TRIALS)
    columns = list(rows[0])
    assert columns[:4] == ["id", "job", "state", "value"]
    assert columns[4:7] == ["optim.lr", "model.layers", "model"]
    assert columns[7:] == ["test_acc", "val_acc", "start", "end", "error"]
    assert [r["state"] for r in rows] == [t["state"] for t in TRIALS]
    assert rows[4]["model.layers"] == ""  # inactive
    assert rows[0]["model.layers"] == "2"
    assert float(rows[1]["optim.lr"]) == 3e-3
    assert rows[2]["value"] == "" and rows[2]["error"] == "ValueError: boom"
    assert rows[1]["test_acc"] == "0.79" and rows[0]["test_acc"] == ""


def test_best_trial_ignores_non_complete() -> None:
    header = make_header()
    assert best_trial(header, TRIALS)["id"] == 1
    assert best_trial(make_header("maximize"), TRIALS)["id"] == 4
    assert best_trial(header, [t for t in TRIALS if t["state"] != "complete"]) is None


def test_reproduce_command_quotes() -> None:
    header = make_header()
    trial = make_trial(0, "complete", 0.1, 1e-3, 2, "mlp")
    trial["overrides"].append("data.path=/tmp/my data")
    command = reproduce_command(header, trial)
    assert command.startswith("python my_app.py trainer.epochs=2 data.name=digits optim.lr=")
    assert "'data.path=/tmp/my data'" in command
    assert shlex.split(command)[2:] == header["fixed_overrides"] + trial["overrides"]


def test_summary(tmp_path: Path) -> None:
    from rich.console import Console

    header = make_header()
    table = summary_table(header, TRIALS, top=2)
    assert table.row_count == 2
    assert "4 complete" in str(table.title) and "1 failed" in str(table.title)
    assert "1 diverged" in str(table.title) and "0 running" in str(table.title)

    console = Console(record=True, width=200)
    print_summary(header, TRIALS, console=console)
    out = console.export_text()
    assert "python my_app.py trainer.epochs=2" in out
    assert TEST_LABEL in out and "test_acc = 0.79" in out

    console = Console(record=True, width=200)
    print_summary(make_header("maximize"), TRIALS, console=console)
    assert TEST_LABEL not in console.export_text()  # best (#4) has no test metrics


def test_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = build(tmp_path)
    assert main([str(sweep)]) == 0
    assert all((sweep / name).exists() for name in FILES)
    assert "python my_app.py" in capsys.readouterr().out

    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and len(err.strip().splitlines()) == 1

    assert main([str(tmp_path)]) == 2  # a directory without a journal
    assert "trials.jsonl" in capsys.readouterr().err


def test_zero_completed_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_done = [t for t in TRIALS if t["state"] != "complete"]
    not_done.append({**TRIALS[0], "id": 9, "state": "running", "value": None})
    sweep = build(tmp_path, trials=not_done)
    assert write_reports(sweep) is None
    assert not (sweep / "best.yaml").exists()
    for name in ("history.png", "params.png"):
        assert (sweep / name).read_bytes().startswith(PNG)
    assert main([str(sweep)]) == 0
    assert "no completed trials yet" in capsys.readouterr().out.lower()

    empty = tmp_path / "empty"
    Journal(empty).write_header(make_header())
    assert write_reports(empty) is None
    with open(empty / "trials.csv") as f:
        assert len(f.read().splitlines()) == 1  # just the column names


def test_non_finite_complete_value_is_not_best(tmp_path: Path) -> None:
    nan = make_trial(7, "complete", math.nan, 1e-3, 2, "mlp")
    assert best_trial(make_header(), [nan, TRIALS[0]])["id"] == 0
    assert best_trial(make_header(), [nan]) is None
    sweep = build(tmp_path, trials=[nan])
    assert write_reports(sweep) is None  # NaN is journalled as null: nothing to rank


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hpfw.sweeper.reports; "
        "print(any(m in sys.modules for m in ('matplotlib', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
