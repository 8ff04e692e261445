"""The ``hpfw`` command: a run's files, bad input as one clear line, user config groups."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import ROOT, TINY, run_cli

BAD_INPUT = [
    (["optimizer.lr=-1"], "optimizer.lr"),
    (["trainer.batch_size=0"], "trainer.batch_size"),
    (["trainer.batch_size=100000"], "trainer.batch_size"),
    (["model=transformer", "model.d_model=30", "model.num_heads=4"], "model.d_model"),
    (["regularization.dropout=1.5"], "regularization.dropout"),
    (["data=npz", "data.path=missing.npz"], "data.path"),
]


@pytest.mark.parametrize("args,key", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_values_fail_with_one_line(args, key, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]], result.stderr  # exactly one line
    assert lines[0].startswith("hpfw: error:") and key in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args,expected",
    [
        (["model=nonexistent"], "Available options in 'model'"),
        (["trainer.epochs=abc"], "trainer.epochs"),
    ],
)
def test_compose_errors_are_hydras_compact_message(args, expected, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_npz_with_bad_labels_fails_cleanly(tmp_path):
    x = np.zeros((20, 4), np.float32)
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=np.full(20, -1))
    result = run_cli("data=npz", "data.path=bad.npz", cwd=tmp_path)
    assert result.returncode == 2
    assert "data.path" in result.stderr and "Traceback" not in result.stderr


def test_full_error_shows_the_traceback(tmp_path):
    result = run_cli("optimizer.lr=-1", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_run_writes_config_and_metrics(tmp_path):
    result = run_cli(*TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "complete"
    assert len(metrics["epochs"]["val_accuracy"]) == 3
    assert {"compile_seconds", "train_seconds", "steps_per_second", "device"} <= set(metrics)
    assert metrics["test_accuracy"] > 0.8
    log = (run_dir / "app.log").read_text()
    assert "device: cpu" in log and "val_accuracy=" in log


def test_user_config_groups_through_searchpath(tmp_path):
    searchpath = f"hydra.searchpath=[file://{ROOT / 'examples' / 'user_conf'}]"
    result = run_cli(searchpath, "model=wide_mlp", "optimizer=fast_adam", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "hidden_dim: 512" in config and "lr: 0.01" in config


def test_multirun_lands_in_sweeps_dir(tmp_path):
    result = run_cli("-m", *TINY, "optimizer.lr=0.001,0.01", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = sorted((tmp_path / "outputs" / "sweeps").glob("*/*/*/metrics.json"))
    assert len(runs) == 2
