"""hpfw export --optuna: a sweep read back from Optuna's storages as a study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpfw.sweeper.optuna_export import main
from tests.helpers import run_cli, toy
from tests.test_report_html import header, trials, write_sweep


def sweep(tmp_path: Path, **extra) -> tuple[Path, list[dict]]:
    records = trials(14)
    records[3] = {**records[3], "state": "diverged", "value": None, "metrics": {}}
    records.append({**records[0], "id": 14, "job": 14, "state": "running", "value": None})
    return write_sweep(tmp_path / "sweeps" / "lr", header(**extra), records), records


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_export_reads_back(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    sweep_dir, records = sweep(tmp_path)
    url = f"sqlite:///{tmp_path}/study.db" if kind == "sqlite" else str(tmp_path / "study.log")
    assert main([str(sweep_dir), "--optuna", url]) == 0
    assert "Exported 15 trials to Optuna study 'sweeps/lr'" in capsys.readouterr().out

    storage = (
        optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
        if kind == "journal"
        else url
    )
    study = optuna.load_study(study_name="sweeps/lr", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.user_attrs["hpfw_strategy"] == "random"
    got = study.get_trials(deepcopy=False)
    assert [t.user_attrs["hpfw_id"] for t in got] == [r["id"] for r in records]
    for t, r in zip(got, records, strict=True):
        expected = {
            "complete": TrialState.COMPLETE,
            "failed": TrialState.FAIL,
            "diverged": TrialState.FAIL,
            "running": TrialState.RUNNING,
        }[r["state"]]
        assert t.state == expected and t.user_attrs["hpfw_state"] == r["state"]
        active = {k: v for k, v in r["params"].items() if k not in r["inactive"]}
        assert t.params == active
        if r["state"] == "complete":
            assert t.value == pytest.approx(r["value"])
            # The trainer's per-epoch curve, from the job's metrics.json.
            assert t.intermediate_values == pytest.approx(
                {e: r["value"] * (1 + 1 / e) for e in (1, 2, 3)}
            )
            assert t.user_attrs["val_accuracy"] == pytest.approx(r["metrics"]["val_accuracy"])
        else:
            assert t.value is None
    dists = got[0].distributions
    assert dists["optimizer.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert dists["model.layers"] == IntDistribution(1, 4)
    assert dists["optimizer"] == CategoricalDistribution(["sgd", "adam"])
    adam = next(t for t in got if t.params["optimizer"] == "adam")
    assert "optimizer.momentum" not in adam.params  # inactive: a conditional space
    # optuna.visualization works on it (plotly is not needed for its data functions).
    importances = optuna.importance.get_param_importances(
        study, params=["optimizer.lr", "model.layers", "optimizer"]
    )
    assert set(importances) == {"optimizer.lr", "model.layers", "optimizer"}


def test_two_objectives_export_as_directions(tmp_path: Path) -> None:
    sweep_dir, _ = sweep(tmp_path, objectives={"val_loss": "minimize", "val_accuracy": "maximize"})
    url = f"sqlite:///{tmp_path}/study.db"
    assert main([str(sweep_dir), "--optuna", url, "--study-name", "two"]) == 0
    study = optuna.load_study(study_name="two", storage=url)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert done and all(len(t.values) == 2 for t in done)
    assert len(study.best_trials) >= 1


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep_dir, _ = sweep(tmp_path)
    for argv, words in [
        ([str(sweep_dir), "--optuna", "study.db"], ["'study.db'", "allowed: sqlite:///"]),
        ([str(sweep_dir), "--optuna", "redis://x"], ["'redis://x'", "allowed"]),
        ([str(tmp_path / "nope"), "--optuna", "x.log"], ["no such directory", "nope"]),
        ([str(tmp_path), "--optuna", "x.log"], ["no trials.jsonl"]),
        ([str(sweep_dir)], ["--optuna"]),
        (
            [str(sweep_dir), "--optuna", f"sqlite:///{tmp_path}/no/such/dir/s.db"],
            ["cannot open Optuna storage", "no/such/dir"],
        ),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("hpfw export:"), err
        assert all(w in err for w in words), err
    url = f"sqlite:///{tmp_path}/study.db"
    assert main([str(sweep_dir), "--optuna", url]) == 0
    assert main([str(sweep_dir), "--optuna", url]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([str(sweep_dir), "--optuna", url, "--replace"]) == 0
    assert len(optuna.load_study(study_name="sweeps/lr", storage=url).trials) == 15


def test_toy_sweep_end_to_end(tmp_path: Path) -> None:
    """A real sweep of a user app, then the commands: export, report."""
    sweep_dir = tmp_path / "toy"
    result = toy(
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.seed=0",
        "x=interval(0,1)",
        "n=range(1,6)",
        "opt=a,b",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Parameter importance" in result.stdout
    assert (sweep_dir / "report.html").stat().st_size > 0
    url = f"sqlite:///{tmp_path}/toy.db"
    exported = run_cli(
        "export", str(sweep_dir), "--optuna", url, "--study-name", "toy", cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    study = optuna.load_study(study_name="toy", storage=url)
    assert len(study.trials) == 6 and set(study.best_params) == {"x", "n", "opt"}
    assert study.best_value == pytest.approx(min(t.value for t in study.trials))
    bad = run_cli("export", str(sweep_dir), "--optuna", "nonsense", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
