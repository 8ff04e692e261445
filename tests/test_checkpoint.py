"""Continuing a run from its checkpoint matches an uninterrupted run of the same epochs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpfw.errors import ConfigError
from hpfw.trainer import checkpoint
from hpfw.trainer.groups import train_many
from hpfw.trainer.run import train_and_evaluate
from tests.helpers import compose_config, run_cli

# Warm-up + cosine and dropout: the parts a continued run could get wrong
# (schedule position, shuffles, dropout masks) all matter here.
BASE = [
    "trainer.batch_size=64",
    "optimizer.schedule=warmup_cosine",
    "optimizer.warmup_fraction=0.2",
    "regularization.dropout=0.2",
    "trainer.compilation_cache_dir=null",
]
# Float32 sums in a different program can differ in the last bits.
TOL = 1e-5


def _cfg(*overrides: str):
    return compose_config([*BASE, *overrides])


@pytest.fixture(scope="module")
def uninterrupted() -> dict:
    return train_and_evaluate(_cfg("trainer.epochs=4"))


def test_continued_run_matches_an_uninterrupted_run(tmp_path: Path, uninterrupted: dict) -> None:
    ckpt = f"trainer.checkpoint_dir={tmp_path}"
    first = train_and_evaluate(_cfg("trainer.epochs=2", "trainer.schedule_epochs=4", ckpt))
    assert first["start_epoch"] == 0
    assert checkpoint.saved_epochs(tmp_path) == [2]

    second = train_and_evaluate(_cfg("trainer.epochs=4", ckpt))
    assert second["start_epoch"] == 2
    assert second["epochs"]["epoch"] == [3, 4]
    assert second["steps"] == first["steps"]  # only the remaining two epochs trained
    for name in ("val_loss", "val_accuracy", "train_loss"):
        np.testing.assert_allclose(
            first["epochs"][name] + second["epochs"][name],
            uninterrupted["epochs"][name],
            atol=TOL,
        )
    for name in ("val_accuracy", "test_loss", "test_accuracy"):
        assert second[name] == pytest.approx(uninterrupted[name], abs=TOL)
    assert checkpoint.saved_epochs(tmp_path) == [2, 4]


def test_a_crash_while_writing_the_metadata_leaves_no_checkpoint(tmp_path, monkeypatch) -> None:
    """``hpfw.json``, which marks a checkpoint complete, appears whole (a rename) or not at all."""
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    real_replace = checkpoint.os.replace

    def killed_before_rename(src, dst):
        if Path(dst).name == checkpoint.METADATA:
            raise OSError("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", killed_before_rename)
    with pytest.raises(OSError, match="killed"):
        checkpoint.save(tmp_path, state, {"epoch": 3, "signature": "s"})
    assert not (tmp_path / "epoch_3" / checkpoint.METADATA).exists()
    assert checkpoint.saved_epochs(tmp_path) == [] and checkpoint.latest(tmp_path) is None

    monkeypatch.setattr(checkpoint.os, "replace", real_replace)  # the rerun saves it again
    path = checkpoint.save(tmp_path, state, {"epoch": 3, "signature": "s"})
    assert checkpoint.saved_epochs(tmp_path) == [3] and checkpoint.read_metadata(path)["epoch"] == 3
    assert sorted(p.name for p in path.iterdir()) == [checkpoint.METADATA, "state"]


def test_vmapped_continuation_matches_one_by_one(tmp_path: Path) -> None:
    lrs = ("1e-3", "3e-3")
    dirs = [tmp_path / lr for lr in lrs]
    first = [
        _cfg(
            "trainer.epochs=1",
            "trainer.schedule_epochs=3",
            f"optimizer.lr={lr}",
            f"trainer.checkpoint_dir={d}",
        )
        for lr, d in zip(lrs, dirs, strict=True)
    ]
    assert all(isinstance(r, dict) for r in train_many(first, mode="vmap"))
    later = [
        _cfg("trainer.epochs=3", f"optimizer.lr={lr}", f"trainer.checkpoint_dir={d}")
        for lr, d in zip(lrs, dirs, strict=True)
    ]
    together = train_many(later, mode="vmap")
    for d in dirs:  # run the same continuation again, one at a time, from epoch 1
        (d / "epoch_3" / checkpoint.METADATA).unlink()
    alone = train_many(later, mode="sequential")
    for a, b in zip(together, alone, strict=True):
        assert a["start_epoch"] == b["start_epoch"] == 1
        np.testing.assert_allclose(a["epochs"]["val_loss"], b["epochs"]["val_loss"], atol=TOL)


def test_trials_side_by_side_all_save_and_continue(tmp_path: Path) -> None:
    # On a CPU the trials of a group run in threads, so their saves and restores overlap.
    dirs = [tmp_path / str(i) for i in range(4)]
    first = [
        _cfg("trainer.epochs=1", "trainer.schedule_epochs=2", f"trainer.checkpoint_dir={d}")
        for d in dirs
    ]
    assert all(r["status"] == "complete" for r in train_many(first, mode="sequential"))
    assert all(checkpoint.saved_epochs(d) == [1] for d in dirs)
    later = [_cfg("trainer.epochs=2", f"trainer.checkpoint_dir={d}") for d in dirs]
    results = train_many(later, mode="sequential")
    assert [r["start_epoch"] for r in results] == [1] * 4
    assert all(checkpoint.saved_epochs(d) == [1, 2] for d in dirs)


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    ckpt = f"trainer.checkpoint_dir={tmp_path}"
    train_and_evaluate(_cfg("trainer.epochs=1", "trainer.schedule_epochs=2", ckpt))
    with pytest.raises(ConfigError, match=r"trainer\.checkpoint_dir"):
        train_and_evaluate(_cfg("trainer.epochs=2", "model.hidden_dim=32", ckpt))


def test_schedule_horizon_shorter_than_the_run_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.schedule_epochs"):
        train_and_evaluate(_cfg("trainer.epochs=3", "trainer.schedule_epochs=2"))


def test_a_diverged_run_saves_no_checkpoint(tmp_path: Path) -> None:
    metrics = train_and_evaluate(
        _cfg(
            "trainer.epochs=1",
            "optimizer=sgd",
            "optimizer.lr=1e6",
            f"trainer.checkpoint_dir={tmp_path}",
        )
    )
    assert metrics["status"] == "diverged"
    assert checkpoint.saved_epochs(tmp_path) == []


def test_cli_continues_from_the_checkpoint_dir(tmp_path: Path) -> None:
    ckpt = f"trainer.checkpoint_dir={tmp_path / 'ckpt'}"
    common = [*BASE, ckpt, "trainer.schedule_epochs=3"]
    assert run_cli(*common, "trainer.epochs=2", cwd=tmp_path).returncode == 0
    done = run_cli(*common, "trainer.epochs=3", "hydra.run.dir=again", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "continued from the checkpoint of epoch 2" in done.stderr + done.stdout
    metrics = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert metrics["start_epoch"] == 2
    assert metrics["epochs"]["epoch"] == [3]
    assert checkpoint.saved_epochs(tmp_path / "ckpt") == [2, 3]
