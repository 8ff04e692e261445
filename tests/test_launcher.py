"""The batched launcher: Hydra-equal configs, Hydra-like job dirs, grouped training."""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path

import jax
import pytest
import yaml
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from hpfw.config import config_dir
from hpfw.launch import idle
from hpfw.launch.compose import JobComposer, activate, hydra_container
from hpfw.trainer import groups, one_by_one
from hpfw.trainer.compiled import PROGRAMS, CompiledProgram
from hpfw.trainer.run import prepare, run_program, train_and_evaluate
from tests.helpers import TINY, assert_same_run, compose_config, grouped, run_cli, toy

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


def test_a_groups_job_files_are_written_while_it_trains_and_look_as_under_hydra(tmp_path):
    """The batched launcher writes the jobs' files, and runs idle tasks, during training."""
    runs = {}
    for launcher in ("basic", "batched"):
        cwd = tmp_path / launcher
        cwd.mkdir()
        env = {"GROUPED_RECORD": str(cwd / "record.json"), "GROUPED_SWEEP_DIR": "sweep"}
        args = [f"hydra/launcher={launcher}", "x=1,2,3", "hydra.sweep.dir=sweep"]
        done = grouped(*args, cwd=cwd, env=env)
        assert done.returncode == 0, done.stderr
        runs[launcher] = cwd / "sweep"
    # Under the batched launcher the group trained (train_group ran) with every job's
    # files already written and the idle task done; the basic launcher never groups.
    record = json.loads((tmp_path / "batched" / "record.json").read_text())
    assert record == {"hydra_files": ["0", "1", "2"], "idle_task_ran": True}
    assert not (tmp_path / "basic" / "record.json").exists()
    for job in ("0", "1", "2"):
        basic, batched = runs["basic"] / job / ".hydra", runs["batched"] / job / ".hydra"
        for name in ("config.yaml", "overrides.yaml"):
            assert (basic / name).read_text() == (batched / name).read_text()
        assert _normalised_hydra(basic / "hydra.yaml") == _normalised_hydra(batched / "hydra.yaml")


def test_idle_tasks_run_once_and_a_failing_one_is_skipped():
    ran = []

    def broken() -> None:
        raise RuntimeError("no matplotlib here")

    for task in (broken, lambda: ran.append(1)):
        idle.when_idle(task)
    idle.when_idle(broken)  # registered once
    idle.run_idle_tasks()
    idle.run_idle_tasks()
    assert ran == [1]


def test_while_training_runs_once_in_this_thread_while_the_trials_train(monkeypatch):
    """The launcher's idle moment: after the batch's programs compile, before its trials end."""
    called = threading.Event()
    calls = []
    seen_by_last_trial = []
    train_prepared = one_by_one.train_prepared
    started = []

    def trial(run):
        started.append(run)
        if len(started) == 3:  # the batch's last trial ends only once the callback ran
            seen_by_last_trial.append(called.wait(timeout=60))
        return train_prepared(run)

    def while_training():
        runs = [prepare(cfg) for cfg in cfgs]
        calls.append((threading.current_thread().name, all(map(one_by_one.is_compiled, runs))))
        called.set()

    monkeypatch.setattr(one_by_one, "train_prepared", trial)
    monkeypatch.setattr(one_by_one, "concurrency", lambda device, n: min(n, 2))  # any machine
    cfgs = _cfgs(*[[f"optimizer.lr={lr}", "model.hidden_dim=24"] for lr in (1e-3, 2e-3, 5e-3)])
    results = groups.train_many(cfgs, mode="sequential", while_training=while_training)
    assert all(r["status"] == "complete" for r in results)
    assert calls == [(threading.current_thread().name, True)]
    assert seen_by_last_trial == [True]


def _cfgs(*extra: list[str]) -> list:
    return [compose_config([*TINY, *e]) for e in extra]


def _modes(results: list) -> list[tuple[str, int]]:
    return [(r["group"]["mode"], r["group"]["width"]) for r in results]


def test_vmapped_group_equals_one_by_one_and_compiles_once():
    trials = [
        [f"optimizer.lr={lr}", f"trainer.seed={s}"] for lr, s in ((1e-3, 0), (3e-3, 1), (1e-2, 2))
    ]
    before = PROGRAMS.compile_count
    grouped = groups.train_many(_cfgs(*trials), mode="vmap")
    # It really ran vmapped (a fallback would say "fallback"): three trials, a 4-wide program.
    assert _modes(grouped) == [("vmap", 4)] * 3
    assert PROGRAMS.compile_count - before <= 1  # one program for the whole group
    again = PROGRAMS.compile_count
    other = [[f"optimizer.lr={lr}", "trainer.seed=5"] for lr in (2e-3, 4e-3, 5e-3)]
    groups.train_many(_cfgs(*other), mode="vmap")  # other values: the program is reused
    assert PROGRAMS.compile_count == again
    single = groups.train_many(_cfgs(*trials), mode="sequential")
    assert _modes(single) == [("sequential", 1)] * 3
    for a, b in zip(grouped, single, strict=True):
        # Same seeds, same values; vmap only changes float reduction order.
        assert_same_run(a, b)


def test_a_vmapped_group_that_fails_falls_back_and_says_so(monkeypatch, caplog):
    cfgs = _cfgs(["optimizer.lr=0.002"], ["optimizer.lr=0.004"])
    real = groups.run_program

    def out_of_memory(*args):
        raise RuntimeError("RESOURCE_EXHAUSTED: out of memory\nmore detail")

    def failing(run, trials=0, with_state=False):  # vmapped programs fail when they run
        if trials:
            return CompiledProgram(run=out_of_memory, compile_seconds=0.0)
        return real(run, trials=trials, with_state=with_state)

    monkeypatch.setattr(groups, "run_program", failing)
    results = groups.train_many(cfgs, mode="vmap")
    reason = "the 2-wide vmapped program failed: RuntimeError: RESOURCE_EXHAUSTED: out of memory"
    assert [r["group"] for r in results] == [{"mode": "fallback", "width": 1, "reason": reason}] * 2
    assert "group.mode=fallback" in caplog.text
    for result, cfg in zip(results, cfgs, strict=True):  # each trial ran alone, correctly
        assert_same_run(result, train_and_evaluate(cfg))


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


def test_groups_split_to_fit_memory(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="hpfw.groups")
    cfgs = _cfgs(*[[f"trainer.seed={seed}"] for seed in range(4)])
    unsplit = groups.train_many(cfgs, mode="vmap")
    assert _modes(unsplit) == [("vmap", 4)] * 4
    # Memory for a 2-wide program but not a 4-wide one, as XLA's analysis reports them.
    first = prepare(cfgs[0])
    need = {w: groups._program_bytes(run_program(first, trials=w)) for w in (2, 4)}
    assert 0 < need[2] < need[4]
    monkeypatch.setattr(groups, "free_memory", lambda device: need[2] + need[4])
    widths = []
    real = groups.run_program

    def recording(run, trials=0, with_state=False):
        widths.append(trials)
        return real(run, trials=trials, with_state=with_state)

    monkeypatch.setattr(groups, "run_program", recording)
    split = groups.train_many(cfgs, mode="vmap")
    # 4 does not fit: halved to 2, then each half of the group runs on the 2-wide program.
    assert widths == [4, 2, 2, 2]
    assert "a 4-trial program needs" in caplog.text
    assert _modes(split) == [("vmap", 2)] * 4
    for a, b in zip(split, unsplit, strict=True):
        assert_same_run(a, b)


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


def test_auto_mode_measures_then_picks_the_faster_and_keeps_the_measured_result(monkeypatch):
    # As on an accelerator (one trial at a time): one trial alone, the other two vmapped.
    monkeypatch.setattr(one_by_one, "concurrency", lambda device, n: 1)
    alone = []
    real_one = one_by_one.run_one

    def run_one(run, speeds):
        alone.append(run)
        return real_one(run, speeds)

    monkeypatch.setattr(one_by_one, "run_one", run_one)

    def cfgs(*lrs: float) -> list:
        return _cfgs(*[[f"optimizer.lr={lr}", "model.hidden_dim=48"] for lr in lrs])

    first = cfgs(1e-3, 2e-3, 4e-3)
    results = groups.train_many(first, mode="auto")
    assert _modes(results) == [("sequential", 1), ("vmap", 2), ("vmap", 2)]
    # The measured trial ran once, and its result is the one kept: that of a run alone.
    assert len(alone) == 1
    assert results[0]["epochs"] == train_and_evaluate(first[0])["epochs"]
    (speeds,) = [v for k, v in groups._speeds.items() if ("hidden_dim", 48) in k[0].model]
    assert set(speeds) == {"sequential", 2}

    # From then on the faster measured way runs the group (speeds set: no timing in tests).
    speeds.update({"sequential": 1.0, 2: 0.5})
    assert _modes(groups.train_many(cfgs(3e-3, 5e-3), mode="auto")) == [("vmap", 2)] * 2
    speeds.update({"sequential": 0.5, 2: 1.0})
    assert _modes(groups.train_many(cfgs(3e-3, 5e-3), mode="auto")) == [("sequential", 1)] * 2
    assert len(alone) == 3  # no second measurement: just the two trials run one by one


def test_concurrency_is_one_trial_per_usable_core(monkeypatch):
    cpu = jax.devices("cpu")[0]
    for cores, n, expected in ((1, 4, 1), (2, 4, 2), (8, 3, 3)):
        monkeypatch.setattr(one_by_one.os, "sched_getaffinity", lambda pid, c=cores: set(range(c)))
        assert one_by_one.concurrency(cpu, n) == expected


def test_auto_mode_on_a_cpu_runs_side_by_side_without_a_vmapped_compile(monkeypatch):
    # Two trials at a time whatever the machine's core count.
    monkeypatch.setattr(one_by_one, "concurrency", lambda device, n: min(n, 2))
    cfgs = _cfgs(*[[f"optimizer.lr={lr}", "model.hidden_dim=44"] for lr in (1e-3, 2e-3, 4e-3)])
    results = groups.train_many(cfgs, mode="auto")
    assert all(r["status"] == "complete" for r in results)
    assert _modes(results) == [("sequential", 1)] * 3
    assert PROGRAMS.compile_count == 1  # the single-trial program only (counters reset per test)
    # The threads start together: one compiles and reports it, the others wait and reuse.
    reported = [r for r in results if r["compile_cache"] != "process"]
    assert len(reported) == 1 and reported[0]["compile_seconds"] > 0
    assert all(r["compile_seconds"] == 0.0 for r in results if r is not reported[0])
    (speeds,) = [v for k, v in groups._speeds.items() if ("hidden_dim", 44) in k[0].model]
    assert list(speeds) == ["sequential"]
