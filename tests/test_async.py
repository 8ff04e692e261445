"""Asynchronous sweeps, pruning under every launcher, and several drivers on one sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import hpfw
from hpfw.sweeper.python_trials import FunctionTrials
from tests.helpers import ROOT, TOY, journal, run_cli

CURVE = ROOT / "tests" / "apps" / "curve" / "app.py"

LAUNCHERS = {
    "basic": [],
    "batched": ["hydra/launcher=batched"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    "ray": [
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        "+hydra.launcher.ray.init.include_dashboard=false",
    ],
}
IN_PROCESS = ("basic", "batched")  # one trial at a time: Hydra's job state is process-wide


def _lines(sweep_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (sweep_dir / "trials.jsonl").read_text().splitlines()[1:]]


def _app(app: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, str(app), "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_an_asynchronous_sweep_prunes_under_each_launcher(launcher: str, tmp_path: Path) -> None:
    """Two trials at a time; the trial at x=0.3 is slow, the others fast.

    With two workers the fast trials run beside the slow one, so the last of
    them starts before the slow one ends, and the bad ones (x=0.9, 0.95) are
    pruned at their first step by the median of the completed x=0.35.
    In-process launchers run one trial at a time: the slow trial completes
    first and every other one is worse than it at step 1.
    """
    out = tmp_path / "sweep"
    serial = launcher in IN_PROCESS
    result = _app(
        CURVE,
        "hydra/sweeper=grid",
        "x=0.3,0.35,0.9,0.95",
        "epochs=5",
        "hydra.sweeper.concurrent_trials=2",
        "hydra.sweeper.pruner={name: median, n_startup_trials: 1}",
        "on_prune=" + ("return" if launcher in ("joblib", "batched") else "raise"),
        f"sleep={0.05 if serial else 1.5}",
        "slow_below=0.31",
        *LAUNCHERS[launcher],
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = journal(out)[1]
    states = {r["params"]["x"]: r["state"] for r in records.values()}
    early = "pruned" if serial else "complete"
    assert states == {0.3: "complete", 0.35: early, 0.9: "pruned", 0.95: "pruned"}
    for record in records.values():
        steps = [s for s, _ in record["intermediate"]]
        assert steps == list(range(1, len(steps) + 1))
        assert len(steps) == (5 if record["state"] == "complete" else 1)
        assert record["value"] is None if record["state"] == "pruned" else record["value"] > 0
        assert record["error"] is None and record["traceback"] is None
    lines = _lines(out)
    slow_end = next(k for k, r in enumerate(lines) if r["id"] == 0 and r["state"] != "running")
    third_start = next(k for k, r in enumerate(lines) if r["id"] == 2)
    assert (third_start > slow_end) == serial  # asynchronous: it started beside the slow one
    if serial:
        assert "running 1 at a time" in result.stdout + result.stderr
    assert "Error executing job" not in result.stderr  # a pruned trial is not an error
    assert (out / "curves.png").is_file()


def test_the_launchers_runtime_starts_in_the_main_thread_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray started from a driver thread kept the process alive ~17 s after the sweep."""
    events: list[tuple[str, str]] = []

    def start_runtime(self: object) -> None:
        events.append(("start", threading.current_thread().name))

    def objective(params: dict) -> float:
        events.append(("trial", threading.current_thread().name))
        return params["x"]

    monkeypatch.setattr(FunctionTrials, "start_runtime", start_runtime, raising=False)
    hpfw.sweep(
        objective,
        {"x": hpfw.Float(0.0, 1.0)},
        strategy="random",
        n_trials=4,
        seed=0,
        n_jobs=2,
        backend="threads",
        asynchronous=True,
        directory=tmp_path / "sweep",
        verbose=False,
    )
    assert events[0] == ("start", threading.main_thread().name)
    assert [e for e, _ in events[1:]] == ["trial"] * 4


def test_a_journal_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    from hpfw.sweeper.journal import Journal, started
    from hpfw.sweeper.tail import JournalTail

    journal, tail = Journal(tmp_path), JournalTail(tmp_path)
    assert tail.update() == [] and tail.header is None
    journal.write_header({"strategy": "random"})
    journal.append(started(0, 0, {"x": 1}))
    assert [r["id"] for r in tail.update()] == [0] and tail.header["strategy"] == "random"
    with open(journal.path, "a") as f:
        f.write('{"type": "trial", "id": 1, "job"')  # a writer died mid-line
    assert tail.update() == []
    journal.append(started(2, 2, {"x": 3}))  # the next append repairs the torn line first
    assert [r["id"] for r in tail.update()] == [2]
    assert sorted(tail.latest) == [0, 2]


def _driver(sweep_dir: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    """One driver of a 20-trial random sweep of the toy app (0.3 s a trial)."""
    args = [
        str(TOY),
        "-m",
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=20",
        "hydra.sweeper.seed=5",
        "sleep=0.3",
        "x=interval(0,1)",
        f"hydra.sweep.dir={sweep_dir}",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _check_twenty(sweep_dir: Path) -> list[dict]:
    """The sweep ran 20 distinct trials, each complete; returns the journal's trial lines."""
    records = journal(sweep_dir)[1]
    assert sorted(records) == list(range(20))
    assert [r["state"] for r in records.values()] == ["complete"] * 20
    assert len({r["params"]["x"] for r in records.values()}) == 20
    assert len({r["job"] for r in records.values()}) == 20  # job folders never shared
    return _lines(sweep_dir)


@pytest.mark.slow
def test_two_drivers_share_twenty_trials(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    first = _driver(out, tmp_path)
    second = _driver(out, tmp_path)  # the same command, at the same moment
    for driver in (first, second):
        _, err = driver.communicate(timeout=300)
        assert driver.returncode == 0, err[-3000:]
    lines = _check_twenty(out)
    starts = [r["id"] for r in lines if r["state"] == "running"]
    assert sorted(starts) == list(range(20))  # every trial launched once, by one driver
    by_driver = {r["driver"] for r in lines}
    assert len(by_driver) == 2  # both drivers ran trials
    # With no driver left, the same command is refused: resume is explicit.
    late = _driver(out, tmp_path)
    _, err = late.communicate(timeout=300)
    assert late.returncode == 2
    assert err.strip().splitlines() == [
        f"hpfw: error: {out / 'trials.jsonl'} already holds a sweep and no driver is running "
        "it; add hydra.sweeper.resume=true to continue it, or choose another hydra.sweep.dir"
    ]


@pytest.mark.slow
def test_a_killed_driver_loses_only_its_running_trial(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    doomed = _driver(out, tmp_path)
    survivor = _driver(out, tmp_path)
    deadline, orphan = time.monotonic() + 120, None
    while time.monotonic() < deadline and orphan is None:
        time.sleep(0.05)
        try:
            latest = {r["id"]: r for r in _lines(out)}
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        done = sum(r["state"] == "complete" for r in latest.values())
        mine = [
            r
            for r in latest.values()
            if r["state"] == "running" and r["driver"].split("-")[-2] == str(doomed.pid)
        ]
        if done >= 3 and mine:
            orphan = mine[0]["id"]
    assert orphan is not None
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    _, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err[-3000:]
    lines = _check_twenty(out)
    starts = [r["id"] for r in lines if r["state"] == "running"]
    assert starts.count(orphan) == 2 and len(starts) == 21  # only the orphan ran twice
    assert journal(out)[1][orphan]["driver"].split("-")[-2] != str(doomed.pid)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_batch_waits_for_its_slowest_trial_and_async_does_not(
    tmp_path: Path, asynchronous: bool
) -> None:
    """Two workers, one slow trial: the third trial starts before it ends only when async."""
    order: list[tuple[str, float]] = []

    def objective(params: dict) -> float:
        order.append(("start", params["x"]))
        time.sleep(1.0 if params["x"] == 0.0 else 0.05)
        order.append(("end", params["x"]))
        return params["x"]

    result = hpfw.sweep(
        objective,
        {"x": hpfw.Categorical([0.0, 1.0, 2.0, 3.0])},
        strategy="grid",
        n_jobs=2,
        backend="threads",
        asynchronous=asynchronous,
        directory=tmp_path,
        verbose=False,
    )
    assert [t.state for t in result.trials] == ["complete"] * 4
    assert (order.index(("start", 2.0)) < order.index(("end", 0.0))) == asynchronous


def test_a_bad_pruner_setting_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    result = _app(
        CURVE,
        "hydra/sweeper=grid",
        "x=0.1,0.2",
        "hydra.sweeper.pruner={name: asha, eta: 1}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hpfw: error: Invalid hydra.sweeper.pruner: asha: eta must be an integer >= 2, got 1"
    ]


@pytest.mark.slow
def test_hpfw_trainer_trials_are_pruned_between_epochs_in_an_async_batched_sweep(
    tmp_path: Path,
) -> None:
    """Two trials train side by side in the driver; a hopeless one stops after its first epoch."""
    out = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/sweeper=grid",
        "optimizer.lr=0.003,0.002,0.00001",
        "trainer.epochs=3",
        "trainer.batch_size=64",
        "hydra/launcher=batched",
        "hydra.sweeper.concurrent_trials=2",
        "hydra.sweeper.pruner={name: median, n_startup_trials: 1}",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = {r["params"]["optimizer.lr"]: r for r in journal(out)[1].values()}
    hopeless = records[0.00001]
    assert hopeless["state"] == "pruned" and len(hopeless["intermediate"]) == 1
    metrics = json.loads((out / str(hopeless["job"]) / "metrics.json").read_text())
    assert metrics["status"] == "pruned" and metrics["pruned_epoch"] == 0
    assert any(r["state"] == "complete" for r in records.values())
    for record in records.values():  # every trial reported its epochs, as val_accuracy
        steps = [s for s, _ in record["intermediate"]]
        assert steps == list(range(1, len(steps) + 1))
        assert set(record["intermediate_metrics"]) == {"train_loss", "val_loss"}
