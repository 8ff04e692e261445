"""``hpfw.sweep`` and ``hpfw.load``: whole sweeps from Python, on the Hydra sweeper's loop."""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

import hpfw
from hpfw.sweeper.python_sweep import sweep
from hpfw.sweeper.results import load
from tests.helpers import journal, toy

SPACE = {"x": hpfw.Float(0.0, 1.0), "n": hpfw.Int(1, 5), "kind": hpfw.Categorical(["a", "b"])}


def bowl(params: dict) -> float:
    return (params["x"] - 0.3) ** 2 + 0.01 * (params["n"] - 3) ** 2 + (params["kind"] == "b")


def test_a_python_sweep_writes_the_journal_and_reports(tmp_path):
    result = sweep(
        bowl, SPACE, strategy="random", n_trials=6, seed=1, directory=tmp_path, verbose=False
    )
    header, records = journal(tmp_path)
    assert header["strategy"] == "random" and header["space"]["kind"]["type"] == "categorical"
    assert [r["state"] for r in records.values()] == ["complete"] * 6
    for name in ("best.yaml", "trials.csv", "history.png", "params.png"):
        assert (tmp_path / name).stat().st_size > 0
    best = min(records.values(), key=lambda r: r["value"])
    assert result.best.id == best["id"] and result.best.value == bowl(best["params"])
    assert [t.value for t in result.trials] == [records[i]["value"] for i in sorted(records)]


def test_failures_mappings_and_the_trial_handle(tmp_path):
    def objective(params, trial):
        if params["n"] == 5:
            raise RuntimeError("n=5 is not allowed")
        trial.path("note.txt").write_text(str(trial.id))
        return {"loss": bowl(params), "x2": params["x"] ** 2}

    result = sweep(
        objective,
        SPACE,
        strategy="random",
        n_trials=12,
        seed=2,
        directory=tmp_path,
        objective_key="loss",
        verbose=False,
    )
    failed = [t for t in result.trials if t.state == "failed"]
    assert failed and all(t.params["n"] == 5 for t in failed)
    assert all(t.error == "RuntimeError: n=5 is not allowed" for t in failed)
    assert (tmp_path / failed[0].record["traceback"]).read_text().count("RuntimeError") >= 1
    done = [t for t in result.trials if t.state == "complete"]
    assert all(t.metrics["x2"] == pytest.approx(t.params["x"] ** 2) for t in done)
    assert all((tmp_path / str(t.job) / "note.txt").read_text() == str(t.id) for t in done)


def test_a_missing_objective_key_stops_the_sweep(tmp_path):
    with pytest.raises(ValueError, match=r"objective key 'loss'.*objective_key"):
        sweep(
            lambda p: {"value": 1.0},
            SPACE,
            strategy="random",
            n_trials=4,
            objective_key="loss",
            directory=tmp_path,
            verbose=False,
        )


@pytest.mark.parametrize("strategy", ["random", "bayes"])
@pytest.mark.usefixtures("no_drawing")
def test_n_jobs_changes_where_trials_run_not_which(tmp_path, strategy):
    runs = {}
    for n_jobs, backend in ((1, "processes"), (2, "processes"), (2, "threads")):
        result = sweep(
            bowl,
            SPACE,
            strategy=strategy,
            n_trials=6,
            seed=3,
            batch_size=2,
            n_jobs=n_jobs,
            backend=backend,
            directory=tmp_path / f"{n_jobs}{backend}",
            verbose=False,
            **({"n_initial": 2} if strategy == "bayes" else {}),
        )
        runs[(n_jobs, backend)] = [(t.params, t.value) for t in result.trials]
    first = runs[(1, "processes")]
    assert all(run == first for run in runs.values())


@pytest.mark.parametrize("backend", ["processes", "threads"])
@pytest.mark.usefixtures("no_drawing")
def test_n_jobs_trials_run_at_once(tmp_path, backend):
    """Four trials meet at a rendezvous that none passes until all four have arrived."""
    meeting = tmp_path / "meeting"
    meeting.mkdir()

    def together(params, trial):
        import os
        import time

        (meeting / str(trial.id)).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while len(list(meeting.iterdir())) < 4:
            if time.monotonic() > deadline:
                raise TimeoutError("the other trials never started")
            time.sleep(0.01)
        return params["x"]

    result = sweep(
        together,
        {"x": hpfw.Float(0, 1)},
        strategy="random",
        n_trials=4,
        seed=0,
        n_jobs=4,
        backend=backend,
        directory=tmp_path / "sweep",
        verbose=False,
    )
    assert [t.state for t in result.trials] == ["complete"] * 4
    pids = {int(p.read_text()) for p in meeting.iterdir()}
    assert (
        (len(pids) == 4 and os.getpid() not in pids)
        if backend == "processes"
        else pids == {os.getpid()}
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"objective": 3}, TypeError, "objective"),
        ({"space": {"x": (0, 1)}}, ValueError, "'x'"),
        ({"n_trials": 0}, ValueError, "n_trials"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
        ({"backend": "gpu"}, ValueError, "backend"),
        ({"direction": "up"}, ValueError, "direction"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"strategy": "nope"}, ValueError, "unknown strategy 'nope'"),
        ({"n_initial": -1, "strategy": "bayes"}, ValueError, "n_initial"),
        ({"verbose": "yes"}, TypeError, "verbose"),
    ],
)
def test_bad_arguments_name_themselves(tmp_path, kwargs, error, named):
    args = {"objective": bowl, "space": SPACE, "directory": tmp_path, "verbose": False, **kwargs}
    objective, space = args.pop("objective"), args.pop("space")
    with pytest.raises(error, match=named):
        sweep(objective, space, **args)


KILLED = """
import sys, time
import hpfw
from hpfw.sweeper.python_sweep import sweep

def objective(params):
    time.sleep(0.3)
    return (params["x"] - 0.3) ** 2

sweep(objective, {"x": hpfw.Float(0, 1)}, strategy="random", n_trials=10, seed=4,
      directory=sys.argv[1], resume=len(sys.argv) > 2, verbose=False)
"""


@pytest.mark.usefixtures("no_drawing")
def test_a_killed_python_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    from tests.helpers import kill_mid_sweep

    script = tmp_path / "sweep_script.py"
    script.write_text(textwrap.dedent(KILLED))
    out = tmp_path / "sweep"
    kill_mid_sweep([sys.executable, str(script), str(out)], tmp_path, out, completed=3)
    killed = journal(out)[1]
    done_before = {i for i, r in killed.items() if r["state"] == "complete"}
    assert 3 <= len(done_before) < 10
    subprocess.run([sys.executable, str(script), str(out), "resume"], check=True, timeout=120)
    lines = [yaml.safe_load(x) for x in (out / "trials.jsonl").read_text().splitlines()[1:]]
    ends = [r["id"] for r in lines if r["state"] == "complete"]
    assert sorted(ends) == list(range(10))  # every trial completed exactly once
    uninterrupted = sweep(
        lambda p: (p["x"] - 0.3) ** 2,
        {"x": hpfw.Float(0, 1)},
        strategy="random",
        n_trials=10,
        seed=4,
        directory=tmp_path / "whole",
        verbose=False,
    )
    assert [t.params for t in load(out).trials] == [t.params for t in uninterrupted.trials]


def test_load_equals_what_the_cli_reports_show(tmp_path):
    out = tmp_path / "sweep"
    result = toy(
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.seed=1",
        "x=interval(0,1)",
        "n=range(1,6)",
        "opt=a,b",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    loaded = load(out)
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert (loaded.best.id, loaded.best.value, loaded.best.params) == (
        best["trial"],
        best["value"],
        best["params"],
    )
    assert loaded.reproduce_command(loaded.best) == best["command"]
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    table = loaded.table()
    rows_of_table = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert len(rows_of_table) == len(rows) == 5
    for ours, theirs in zip(rows_of_table, rows, strict=True):
        assert {k: "" if v is None else str(v) for k, v in ours.items()} == theirs
    assert loaded.plot_history().axes and loaded.plot_params().axes
    with pytest.raises(FileNotFoundError, match="no sweep in"):
        load(tmp_path)


@pytest.mark.usefixtures("no_drawing")
def test_table_without_pandas_is_rows_of_dicts(tmp_path, monkeypatch):
    sweep(bowl, SPACE, strategy="random", n_trials=2, seed=0, directory=tmp_path, verbose=False)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    rows = load(tmp_path).table()
    assert isinstance(rows, list) and set(rows[0]) >= {"id", "state", "value", "x", "n", "kind"}


@pytest.mark.usefixtures("no_drawing")
def test_import_path_of_the_reproduce_command(tmp_path):
    result = sweep(
        bowl, SPACE, strategy="random", n_trials=2, seed=0, directory=tmp_path, verbose=False
    )
    command = result.reproduce_command(result.best)
    assert command.startswith("python -c ") and "from tests.test_python_api import bowl" in command
    command = command.replace("python", shlex.quote(sys.executable), 1)
    out = subprocess.run(
        command,
        shell=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        check=True,
    )
    assert float(out.stdout) == pytest.approx(result.best.value)


# --- hpfw's own trainer from Python --------------------------------------------------------

TINY_RUN = ["trainer.epochs=2", "trainer.batch_size=64"]


def test_train_returns_the_task_functions_numbers_and_writes_metrics(tmp_path):
    numbers = hpfw.train([*TINY_RUN, "optimizer.lr=0.003"], output_dir=tmp_path)
    written = yaml.safe_load((tmp_path / "metrics.json").read_text())
    assert numbers["objective"] == numbers["val_accuracy"] == written["val_accuracy"]
    assert numbers["test_loss"] == written["test_loss"] and len(written["epochs"]["epoch"]) == 2
    again = hpfw.train(config=hpfw.compose([*TINY_RUN, "optimizer.lr=0.003"]))
    deterministic = ("objective", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "flops")
    assert {k: again[k] for k in deterministic} == {k: numbers[k] for k in deterministic}
    assert again["compile_seconds"] == 0.0  # the first call compiled the program
    with pytest.raises(ValueError, match=r"optimizer\.lr"):
        hpfw.train([*TINY_RUN, "optimizer.lr=-1"])
    with pytest.raises(TypeError, match="list of strings"):
        hpfw.train("trainer.epochs=1")


@pytest.mark.usefixtures("no_drawing")
def test_a_python_sweep_of_hpfws_trainer(tmp_path):
    def objective(params):
        return hpfw.train([*TINY_RUN, f"optimizer.lr={params['lr']}"])

    space = {"lr": hpfw.Float(1e-3, 1e-2, log=True)}
    result = hpfw.sweep(
        objective,
        space,
        strategy="random",
        n_trials=4,
        seed=0,
        n_jobs=2,
        backend="threads",
        direction="maximize",
        objective_key="val_accuracy",
        directory=tmp_path,
        verbose=False,
    )
    assert [t.state for t in result.trials] == ["complete"] * 4
    again = objective(result.best.params)
    assert result.best.value == again["val_accuracy"]  # threads ran the same deterministic runs


def test_train_many_equals_train_one_by_one():
    runs = [[*TINY_RUN, f"optimizer.lr={lr}"] for lr in (0.001, 0.01)] + [["optimizer.lr=-1"]]
    grouped = hpfw.train_many(runs, mode="vmap")
    assert isinstance(grouped[2], ValueError) and "optimizer.lr" in str(grouped[2])
    for overrides, together in zip(runs[:2], grouped[:2], strict=True):
        alone = hpfw.train(overrides)
        for key in ("objective", "val_loss", "test_accuracy"):
            assert together[key] == pytest.approx(alone[key], rel=1e-4, abs=1e-5)


def test_the_plots_are_drawn_once_after_the_last_batch(tmp_path, monkeypatch):
    # Redrawing them after the last batch and again on closing cost every sweep a second or two.
    from hpfw.sweeper import plots

    drawn = []
    real = plots.draw_all
    monkeypatch.setattr(plots, "draw_all", lambda *a, **k: drawn.append(1) or real(*a, **k))
    sweep(bowl, SPACE, strategy="random", n_trials=4, batch_size=4, seed=1, directory=tmp_path,
          verbose=False)  # fmt: skip
    assert len(drawn) == 1 and (tmp_path / "history.png").stat().st_size > 0
