"""hydra/callbacks=mlflow and =tensorboard: real sweeps, read back from MLflow and event files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import TINY, run_cli, toy

# x=0.05 diverges (NaN), x=0.5 completes, x=0.95 fails.
GRID = ["hydra/sweeper=grid", "x=0.05,0.5,0.95", "fail_above=0.9", "nan_below=0.1"]


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite store with its tables: creating them takes MLflow ~10 s, copying none."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_uri(tmp_path: Path, empty_db: Path) -> str:
    shutil.copy(empty_db, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path}/mlflow.db"


def mlflow_runs(uri: str, experiment: str) -> tuple[object, dict[str, object]]:
    """The sweep's parent run and its trials by name, read back through MlflowClient."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, [e.name for e in client.search_experiments()]
    runs = client.search_runs([found.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("hpfw.role") == "sweep"]
    trials = {r.info.run_name: r for r in runs if r is not parent}
    for run in trials.values():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    return parent, trials


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_mlflow_runs_nest_under_the_sweep(tmp_path: Path, launcher: str, mlflow_uri: str) -> None:
    uri = mlflow_uri
    extra = (
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.batch_size=3"]
        if launcher == "joblib"
        else []
    )
    result = toy(
        *GRID,
        "returns=mapping",
        "hydra.sweeper.objective=loss",
        "hydra/callbacks=mlflow",
        f"hydra.callbacks.mlflow.tracking_uri={uri}",
        "hydra.callbacks.mlflow.experiment_name=toy",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *extra,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Callback" not in result.stderr, result.stderr  # Hydra warns when a callback raises
    parent, trials = mlflow_runs(uri, "toy")
    assert sorted(trials) == ["trial 0", "trial 1", "trial 2"]
    by_x = {float(r.data.params["x"]): r for r in trials.values()}
    assert set(by_x) == {0.05, 0.5, 0.95}
    ok, nan, failed = by_x[0.5], by_x[0.05], by_x[0.95]
    assert ok.info.status == "FINISHED" and ok.data.tags["hpfw.status"] == "complete"
    assert ok.data.metrics["loss"] == pytest.approx(0.04 + 0.01 * 4 + 0.5)
    assert ok.data.metrics["accuracy"] == pytest.approx(1 - ok.data.metrics["loss"])
    assert ok.data.params["fail_above"] == "0.9"  # every override of the job
    assert nan.info.status == "FAILED" and nan.data.tags["hpfw.status"] == "diverged"
    assert failed.info.status == "FAILED" and failed.data.tags["hpfw.status"] == "failed"
    assert "too large" in failed.data.tags["hpfw.error"]
    # The parent run: the sweep's best and its report files.
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_loss"] == pytest.approx(ok.data.metrics["loss"])
    from mlflow.tracking import MlflowClient

    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id)}
    assert {"report.html", "best.yaml", "trials.csv"} <= artifacts


def test_tensorboard_runs_have_hparams(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import api_pb2, metadata

    sweep = tmp_path / "sweep"
    result = toy(
        *GRID,
        "returns=mapping",
        "hydra.sweeper.objective=loss",
        "hydra/callbacks=tensorboard",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    root = sweep / "tensorboard"
    statuses = {}
    for job in ("0", "1", "2"):
        acc = ea.EventAccumulator(str(root / job))
        acc.Reload()
        plugin = acc.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(
            plugin[metadata.SESSION_START_INFO_TAG]
        )
        end = metadata.parse_session_end_info_plugin_data(plugin[metadata.SESSION_END_INFO_TAG])
        x = start.hparams["x"].number_value
        statuses[x] = end.status
        if x == 0.5:
            (loss,) = acc.Scalars("loss")
            assert loss.value == pytest.approx(0.58)
    assert statuses == {
        0.05: api_pb2.STATUS_FAILURE,  # diverged
        0.5: api_pb2.STATUS_SUCCESS,
        0.95: api_pb2.STATUS_FAILURE,
    }
    acc = ea.EventAccumulator(str(root))
    acc.Reload()
    experiment = metadata.parse_experiment_plugin_data(
        acc.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG]
    )
    names = {h.name for h in experiment.hparam_infos}
    assert {"x", "fail_above", "nan_below", "returns"} <= names
    assert {m.name.tag for m in experiment.metric_infos} >= {"loss", "accuracy"}


@pytest.mark.slow
def test_trainer_sweep_logs_epochs_to_both(tmp_path: Path, mlflow_uri: str) -> None:
    """hpfw's trainer: per-epoch metrics (step = epoch) in MLflow and in TensorBoard."""
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing import event_accumulator as ea

    uri = mlflow_uri
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        *TINY,
        "trainer.epochs=2",
        "optimizer.lr=0.01,0.1",
        "hydra/callbacks=[mlflow,tensorboard]",
        f"hydra.callbacks.mlflow.tracking_uri={uri}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, trials = mlflow_runs(uri, "app")
    assert len(trials) == 2
    client = MlflowClient(uri)
    for run in trials.values():
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert [m.step for m in history][:2] == [1, 2]  # per epoch, then the final value
        assert "test_accuracy" in run.data.metrics
    acc = ea.EventAccumulator(str(sweep / "tensorboard" / "0"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]
