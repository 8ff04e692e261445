"""Sweeps on Hydra's launchers (joblib, submitit_local, ray): same trials, dead workers, caches."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpfw import create_strategy
from hpfw.process import PREALLOCATE
from hpfw.testing import contract_space
from tests.helpers import (
    TOY,
    _run,
    assert_same_run,
    journal,
    kill_mid_sweep,
    required_strategies,
    run_cli,
    toy,
)

# Four random trials of hpfw's trainer, two per launched batch; two widths, so every
# launcher carries the envelope (trainer.envelope) and all trials share one program.
SWEEP = (
    "-m",
    "hydra/sweeper=random",
    "hydra.sweeper.n_trials=4",
    "hydra.sweeper.batch_size=2",
    "hydra.sweeper.seed=3",
    "trainer.epochs=2",
    "trainer.batch_size=64",
    "optimizer.lr=tag(log,interval(1e-3,3e-2))",
    "regularization.dropout=interval(0,0.3)",
    "model.hidden_dim=choice(32,64)",
)
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    "ray": [
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        "+hydra.launcher.ray.init.include_dashboard=false",
        "+hydra.launcher.ray.remote.max_retries=0",  # a dead worker fails its trial at once
    ],
}


def _sweep(cwd: Path, name: str, cache: Path, *extra: str) -> dict[int, dict]:
    out = cwd / name
    result = run_cli(
        *SWEEP, f"trainer.compilation_cache_dir={cache}", *extra, f"hydra.sweep.dir={out}", cwd=cwd
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return journal(out)[1]


def _job_metrics(sweep_dir: Path) -> list[dict]:
    paths = sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name))
    return [json.loads(p.read_text()) for p in paths]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[int, dict]]:
    """The basic launcher's sweep, which also fills a fresh compilation cache."""
    cwd = tmp_path_factory.mktemp("scaleout")
    cache = cwd / "jax-cache"
    records = _sweep(cwd, "basic", cache)
    caches = [m["compile_cache"] for m in _job_metrics(cwd / "basic")]
    # One process: the first trial compiles (and fills the cache), the rest reuse it.
    assert caches[0] == "miss" and set(caches[1:]) == {"process"}, caches
    return cwd, cache, records


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_launchers_give_the_same_trials_and_share_the_cache(launcher: str, shared) -> None:
    cwd, cache, basic = shared
    records = _sweep(cwd, launcher, cache, *LAUNCHERS[launcher])
    assert [r["params"] for r in records.values()] == [r["params"] for r in basic.values()]
    for ours, theirs in zip(records.values(), basic.values(), strict=True):
        assert ours["state"] == theirs["state"] == "complete"
        assert ours["value"] == pytest.approx(theirs["value"], abs=1e-6)
    # Each worker process loads the program the basic sweep compiled: nothing recompiles.
    caches = [m["compile_cache"] for m in _job_metrics(cwd / launcher)]
    assert "hit" in caches and set(caches) <= {"hit", "process"}, caches


@pytest.mark.slow
def test_vmapped_groups_through_hydra_equal_the_basic_launcher(shared) -> None:
    """The vmapped path end to end: the batched launcher, vmapped groups of two, metrics.json."""
    cwd, cache, basic = shared
    out = cwd / "vmap"
    args = [a for a in SWEEP if not a.startswith("hydra.sweeper.batch_size=")]
    result = run_cli(
        *args,
        "hydra.sweeper.batch_size=4",  # all 4 trials in one launch, in vmapped programs of 2
        "hydra/launcher=batched",
        "hydra.launcher.mode=vmap",
        "hydra.launcher.max_group_size=2",
        f"trainer.compilation_cache_dir={cache}",
        f"hydra.sweep.dir={out}",
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = journal(out)[1]
    assert [r["params"] for r in records.values()] == [r["params"] for r in basic.values()]
    for ours, theirs in zip(records.values(), basic.values(), strict=True):
        assert ours["state"] == theirs["state"] == "complete"
        assert ours["value"] == pytest.approx(theirs["value"], abs=2 / 359)  # val_accuracy
    vmapped, alone = _job_metrics(out), _job_metrics(cwd / "basic")
    assert len(vmapped) == len(alone) == 4
    for ours, theirs in zip(vmapped, alone, strict=True):
        assert ours["group"] == {"mode": "vmap", "width": 2}  # no silent fallback
        assert "group" not in theirs
        assert_same_run(ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_killed_worker_fails_its_trial_and_the_sweep_goes_on(
    launcher: str, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    extra = [o for o in LAUNCHERS[launcher] if "num_cpus" not in o]
    args = [
        "hydra/sweeper=grid",
        "hydra.sweeper.batch_size=2",
        "x=0.1,0.2,0.9,0.3",
        "die_above=0.5",  # the trial with x=0.9 SIGKILLs its worker
        *extra,
        *(["+hydra.launcher.ray.init.num_cpus=2"] if launcher == "ray" else []),
        f"hydra.sweep.dir={out}",
    ]
    # submitit still reports the dead job (UncompletedJobError), after 1 s rather than
    # its 15 s wait for a result file (tests/apps/toy/app.py), at each of two launches.
    quick = {"TOY_SUBMITIT_RESULTS_TIMEOUT_S": "1"} if launcher == "submitit_local" else None
    result = _run([sys.executable, str(TOY), "-m", *args], tmp_path, quick)
    assert result.returncode == 0, result.stderr[-3000:]
    records = journal(out)[1]
    states = {r["params"]["x"]: r["state"] for r in records.values()}
    assert states == {0.1: "complete", 0.2: "complete", 0.9: "failed", 0.3: "complete"}
    dead = next(r for r in records.values() if r["params"]["x"] == 0.9)
    assert dead["error"].startswith("the worker running it died")


@pytest.mark.slow
def test_resume_after_the_driver_dies_relaunches_no_completed_trial(tmp_path: Path) -> None:
    """The driver of a joblib sweep is killed (workers with it); resume runs only the rest."""
    out = tmp_path / "sweep"
    args = [
        "-m",
        "hydra/sweeper=random",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.batch_size=2",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.seed=4",
        "sleep=0.5",
        "x=interval(0,1)",
        f"hydra.sweep.dir={out}",
    ]
    kill_mid_sweep([sys.executable, str(TOY), *args], tmp_path, out, completed=2)
    done_before = {r["id"] for r in journal(out)[1].values() if r["state"] == "complete"}
    assert 2 <= len(done_before) < 8

    result = toy(*args[1:], "hydra.sweeper.resume=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()[1:]]
    launches = [r["id"] for r in records if r["state"] == "running"]
    assert all(launches.count(i) == 1 for i in done_before)  # launched once, never again
    assert [r["state"] for r in journal(out)[1].values()] == ["complete"] * 8


def test_each_worker_process_claims_its_own_device(tmp_path: Path) -> None:
    """Two joblib workers on a node with two (here: simulated CPU) devices use one each."""
    env = {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "HPFW_DEVICE_LOCK_DIR": str(tmp_path / "locks"),
    }
    out = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.batch_size=2",
        "trainer.epochs=2",
        "trainer.batch_size=64",
        "trainer.compilation_cache_dir=null",
        "optimizer.lr=0.001,0.002",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    devices = sorted(m["device"] for m in _job_metrics(out))
    assert devices == ["cpu:0 (cpu)", "cpu:1 (cpu)"]
    logs = [p.read_text() for p in out.glob("*/*.log")]
    assert any("device: cpu:1 (cpu)" in text for text in logs)


def _claim(lock_dir: str, ready, release, results) -> None:  # runs in a child process
    os.environ["HPFW_DEVICE_LOCK_DIR"] = lock_dir
    from hpfw.trainer.device import claim_slot

    results.put((os.getpid(), claim_slot("gpu", 2)))
    ready.set()
    release.wait(60)


def test_claims_are_distinct_until_devices_run_out(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    results, release = context.Queue(), context.Event()
    children = []
    for _ in range(3):
        ready = context.Event()
        child = context.Process(target=_claim, args=(str(tmp_path), ready, release, results))
        child.start()
        assert ready.wait(120)
        children.append(child)
    claims = [results.get(timeout=10) for _ in children]
    release.set()
    for child in children:
        child.join(30)
    assert [slot for _, slot in claims[:2]] == [0, 1]
    pid, slot = claims[2]
    assert slot == pid % 2  # more processes than devices: the third shares


PREALLOCATE_AFTER = {
    # Importing hpfw (and its data) changes nothing in the environment.
    "import": "import hpfw, hpfw.data",
    # The hpfw command sets it first thing (the app itself is not run here).
    "cli": "import sys, hpfw.app; hpfw.app.main = lambda: None; sys.argv = ['hpfw']; "
    "from hpfw.cli import main; main()",
    # A trial's first device selection sets it: a worker of any launcher.
    "trial": "from hpfw.trainer.device import select_device; select_device('auto')",
}


@pytest.mark.parametrize("where", PREALLOCATE_AFTER)
def test_jax_does_not_preallocate_gpu_memory_unless_asked(where: str) -> None:
    code = f"import os; {PREALLOCATE_AFTER[where]}; print(os.environ.get('{PREALLOCATE}'))"
    env = {k: v for k, v in os.environ.items() if k != PREALLOCATE}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == ("None" if where == "import" else "false")
    env[PREALLOCATE] = "true"  # a value the user set is kept
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert chosen.stdout.strip() == "true"


# Strategies that propose new configurations in every batch (multi-fidelity ones
# also promote earlier configurations, and are tested with their brackets).
PROPOSING = required_strategies(["grid", "random", "bayes", "tpe"])  # CI must have tpe


@pytest.mark.parametrize("name", PROPOSING)
def test_a_parallel_batch_holds_distinct_trials(name: str) -> None:
    """What a launcher runs at once is ``batch_size`` different configurations."""
    options = {"grid_points": 3} if name == "grid" else {}
    strategy = create_strategy(name, contract_space(), direction="minimize", seed=0, **options)
    seen: list[tuple] = []
    for _ in range(3):
        batch = strategy.ask(4)
        assert len(batch) == 4
        seen += [tuple(sorted(t.params.items())) for t in batch]
        for trial in batch:
            strategy.tell(trial, float(trial.params["lr"]))
    assert len(set(seen)) == len(seen), seen
