"""The batched launcher: Hydra-equal configs, Hydra-like job dirs, grouped training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from hpfw.config import config_dir
from hpfw.launch.compose import JobComposer, activate, hydra_container
from hpfw.trainer import groups
from hpfw.trainer.compiled import PROGRAMS
from hpfw.trainer.run import train_and_evaluate
from tests.helpers import TINY, compose_config, run_cli, toy

OVERRIDE_TABLE = [
    ["optimizer.lr=0.01"],
    ["optimizer=sgd", "optimizer.momentum=0.5"],  # a group change, then a key of it
    ["model=cnn", "+extra=3"],  # +key adds a key
    ["~regularization"],  # ~key deletes one
    ["++trainer.epochs=2", "+search=mlp"],  # ++ forces; +group adds a config group
    ["trainer.seed=${trainer.epochs}"],  # an interpolation
    ["optimizer=adamw", "regularization=none", "model.hidden_dim=64"],
    ["hydra.job.chdir=true", "optimizer.lr=0.5"],  # a hydra value override
]


@pytest.fixture
def loader_and_master():
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", ["hydra.sweep.dir=/tmp/hpfw-compose"], run_mode=RunMode.MULTIRUN
        )
        yield loader, master


@pytest.mark.parametrize("overrides", OVERRIDE_TABLE, ids=[" ".join(o) for o in OVERRIDE_TABLE])
def test_composition_equals_hydras(overrides, loader_and_master):
    loader, master = loader_and_master
    composer = JobComposer(loader, master)
    composer.compose(["optimizer.lr=0.123"])  # warm the cache with another job first
    job = composer.compose(overrides)
    activate(job, 7, "hydra.sweep.dir", "hydra.sweep.subdir")

    expected = loader.load_sweep_config(master, overrides)
    expected.hydra.job.num = expected.hydra.job.id = 7
    expected.hydra.runtime.output_dir = "/tmp/hpfw-compose/7"
    want = OmegaConf.to_container(expected, resolve=False, enum_to_str=True)
    hydra_want = want.pop("hydra")
    assert OmegaConf.to_container(job.task_cfg, resolve=False) == want
    assert hydra_container(job) == hydra_want
    # Interpolations resolve the same way.
    resolved = OmegaConf.to_container(expected, resolve=True)
    resolved.pop("hydra")
    assert OmegaConf.to_container(job.task_cfg, resolve=True) == resolved


def _normalised_hydra(path: Path) -> dict:
    hydra = yaml.safe_load(path.read_text())["hydra"]
    # What differs between two sweeps in two directories with two launchers.
    for key in ("cwd", "output_dir"):
        hydra["runtime"].pop(key)
    hydra["runtime"]["choices"].pop("hydra/launcher")
    hydra.pop("launcher")
    hydra["overrides"]["hydra"] = [o for o in hydra["overrides"]["hydra"] if "launcher" not in o]
    return hydra


def test_job_dirs_look_the_same_as_under_hydras_launcher(tmp_path):
    runs = {}
    for launcher in ("basic", "batched"):
        cwd = tmp_path / launcher
        cwd.mkdir()
        args = ["hydra/sweeper=grid", f"hydra/launcher={launcher}", "x=0.1,0.7", "opt=a,b"]
        result = toy(*args, "hydra.sweep.dir=sweep", cwd=cwd)
        assert result.returncode == 0, result.stderr
        runs[launcher] = cwd / "sweep"
    for job in ("0", "1", "2", "3"):
        basic, batched = runs["basic"] / job, runs["batched"] / job
        assert sorted(p.name for p in basic.iterdir()) == sorted(p.name for p in batched.iterdir())
        for name in ("config.yaml", "overrides.yaml"):
            assert (basic / ".hydra" / name).read_text() == (batched / ".hydra" / name).read_text()
        assert _normalised_hydra(basic / ".hydra" / "hydra.yaml") == _normalised_hydra(
            batched / ".hydra" / "hydra.yaml"
        )
    journals = [(runs[k] / "trials.jsonl").read_text().splitlines()[1:] for k in runs]
    values = [
        [yaml.safe_load(line)["value"] for line in j if '"complete"' in line] for j in journals
    ]
    assert values[0] == values[1]


def _cfgs(*extra: list[str]) -> list:
    return [compose_config([*TINY, *e]) for e in extra]


def test_vmapped_group_equals_one_by_one_and_compiles_once():
    trials = [
        [f"optimizer.lr={lr}", f"trainer.seed={s}"] for lr, s in ((1e-3, 0), (3e-3, 1), (1e-2, 2))
    ]
    before = PROGRAMS.compile_count
    grouped = groups.train_many(_cfgs(*trials), mode="vmap")
    assert PROGRAMS.compile_count - before <= 1  # one program for the whole group
    again = PROGRAMS.compile_count
    other = [[f"optimizer.lr={lr}", "trainer.seed=5"] for lr in (2e-3, 4e-3, 5e-3)]
    groups.train_many(_cfgs(*other), mode="vmap")  # other values: the program is reused
    assert PROGRAMS.compile_count == again
    single = groups.train_many(_cfgs(*trials), mode="sequential")
    for a, b in zip(grouped, single, strict=True):
        # Same seeds, same values; vmap only changes float reduction order.
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3, abs=1e-4)
        assert abs(a["val_accuracy"] - b["val_accuracy"]) <= 2 / 359


def test_side_by_side_trials_equal_trials_run_alone():
    """On a CPU "sequential" runs one trial per core in threads: results are unchanged."""
    trials = [
        [f"optimizer.lr={lr}", "trainer.seed=3", "model.hidden_dim=40"] for lr in (1e-3, 2e-3, 5e-3)
    ]
    side_by_side = groups.train_many(_cfgs(*trials), mode="sequential")
    alone = [train_and_evaluate(cfg) for cfg in _cfgs(*trials)]
    for a, b in zip(side_by_side, alone, strict=True):
        assert a["epochs"]["val_loss"] == b["epochs"]["val_loss"]
        assert a["test_accuracy"] == b["test_accuracy"]


def test_bad_or_diverging_trial_fails_alone_in_a_group():
    results = groups.train_many(
        _cfgs(
            ["optimizer=sgd", "optimizer.lr=0.05"],
            ["optimizer=sgd", "optimizer.lr=-1"],  # invalid: fails before training
            ["optimizer=sgd", "optimizer.lr=1e8", "regularization=none"],  # diverges
            ["optimizer=sgd", "optimizer.lr=0.02"],
        ),
        mode="vmap",
    )
    assert results[0]["status"] == "complete" and results[0]["val_accuracy"] > 0.8
    assert isinstance(results[1], Exception) and "optimizer.lr" in str(results[1])
    assert results[2]["status"] == "diverged" and math.isnan(results[2]["val_loss"])
    assert results[3]["status"] == "complete" and results[3]["val_accuracy"] > 0.8


def test_groups_split_to_fit_memory(monkeypatch):
    monkeypatch.setattr(groups, "free_memory", lambda device: 1)  # nothing fits: widths halve to 1
    results = groups.train_many(_cfgs(["trainer.seed=0"], ["trainer.seed=1"]), mode="vmap")
    assert all(r["status"] == "complete" for r in results)


def test_hpfw_sweep_with_the_batched_launcher(tmp_path):
    out = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/sweeper=random",
        "hydra/launcher=batched",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.batch_size=4",
        "hydra.sweeper.seed=0",
        *TINY,
        "optimizer.lr=tag(log, interval(1e-3, 1e-2))",
        "regularization.dropout=interval(0, 0.3)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for job in range(4):
        job_dir = out / str(job)
        assert (job_dir / "metrics.json").exists() and (job_dir / ".hydra" / "hydra.yaml").exists()
        assert "val_accuracy=" in (job_dir / "app.log").read_text()
    lines = (out / "trials.jsonl").read_text().splitlines()
    assert sum('"state": "complete"' in line for line in lines) == 4


def test_non_hpfw_app_runs_job_by_job(tmp_path):
    result = toy(
        "hydra/sweeper=grid",
        "hydra/launcher=batched",
        "x=0.1,0.2",
        "fail_above=0.15",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [
        yaml.safe_load(x) for x in (tmp_path / "sweep" / "trials.jsonl").read_text().splitlines()
    ]
    final = {r["id"]: r for r in lines[1:]}
    assert final[0]["state"] == "complete" and final[0]["value"] == pytest.approx(0.04 + 0.04 + 0.5)
    assert final[1]["state"] == "failed" and "too large" in final[1]["error"]


def test_auto_mode_measures_both_ways_and_keeps_results(monkeypatch):
    # As on an accelerator (one trial at a time): one trial alone, the other two vmapped.
    monkeypatch.setattr(groups, "concurrency", lambda device, n: 1)
    cfgs = _cfgs(*[[f"optimizer.lr={lr}", "model.hidden_dim=48"] for lr in (1e-3, 2e-3, 4e-3)])
    results = groups.train_many(cfgs, mode="auto")
    assert all(r["status"] == "complete" for r in results)
    (speeds,) = [v for k, v in groups._speeds.items() if ("hidden_dim", 48) in k[0].model]
    assert "sequential" in speeds and 2 in speeds


def test_auto_mode_on_a_cpu_runs_side_by_side_without_a_vmapped_compile():
    before = PROGRAMS.compile_count
    cfgs = _cfgs(*[[f"optimizer.lr={lr}", "model.hidden_dim=44"] for lr in (1e-3, 2e-3, 4e-3)])
    results = groups.train_many(cfgs, mode="auto")
    assert all(r["status"] == "complete" for r in results)
    assert PROGRAMS.compile_count - before == 1  # the single-trial program only
    # The threads start together: one compiles and reports it, the others wait and reuse.
    reported = [r for r in results if r["compile_cache"] != "process"]
    assert len(reported) == 1 and reported[0]["compile_seconds"] > 0
    assert all(r["compile_seconds"] == 0.0 for r in results if r is not reported[0])
    (speeds,) = [v for k, v in groups._speeds.items() if ("hidden_dim", 44) in k[0].model]
    assert list(speeds) == ["sequential"]
