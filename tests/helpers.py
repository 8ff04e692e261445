"""Test helpers: composing hpfw's config the way the CLI does, and tiny trainer settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from hpfw.config import config_dir, register_configs

register_configs()

ROOT = Path(__file__).resolve().parents[1]

# Small enough to keep the suite fast, large enough to learn digits clearly.
TINY = ["trainer.epochs=3", "trainer.batch_size=64"]


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Composes ``conf/config.yaml`` with ``overrides``, as ``hpfw`` would."""
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _run(command: list[str], cwd: Path, env: dict[str, str] | None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    full_env.update(env or {})
    return subprocess.run(
        command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs ``python -m hpfw`` in ``cwd`` and captures its output."""
    return _run([sys.executable, "-m", "hpfw", *args], cwd, env)


TOY = ROOT / "tests" / "apps" / "toy" / "app.py"


def toy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A multirun of the small user app in tests/apps/toy (not hpfw's trainer)."""
    return _run([sys.executable, str(TOY), "-m", *args], cwd, None)


GROUPED = ROOT / "tests" / "apps" / "grouped" / "app.py"


def grouped(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A multirun of tests/apps/grouped: a user app whose trials train as one group."""
    return _run([sys.executable, str(GROUPED), "-m", *args], cwd, env)


def journal(sweep_dir: Path) -> tuple[dict, dict[int, dict]]:
    """The journal's header and the latest record of each trial, by id."""
    lines = [json.loads(line) for line in (sweep_dir / "trials.jsonl").read_text().splitlines()]
    return lines[0], {r["id"]: r for r in lines[1:]}


def kill_mid_sweep(
    command: Sequence[str],
    cwd: Path,
    sweep_dir: Path,
    completed: int,
    timeout: float = 180,
    env: dict[str, str] | None = None,
) -> None:
    """Starts a sweep and SIGKILLs it (its whole process group) while a trial is running.

    Waits until the journal holds at least ``completed`` complete trials and its
    last record is a launched, unfinished one; the process group goes too, so
    a launcher's worker processes die with their driver. Fails (after killing
    the sweep) when that moment does not come within ``timeout`` seconds or the
    sweep ends first: a test must never go on with a sweep killed at a moment
    it did not ask for.
    """
    full_env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    full_env.update(env or {})
    path = sweep_dir / "trials.jsonl"
    reached = False
    with tempfile.TemporaryFile() as stderr:  # a pipe could fill up and stall the sweep
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            if not path.exists():
                continue
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]
            done = sum(1 for r in lines if r.get("state") == "complete")
            if done >= completed and lines[-1].get("state") == "running":
                reached = True
                break
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")[-2000:]
    if not reached:
        when = f"before it ended (exit {proc.returncode})" if proc.returncode >= 0 else ""
        raise AssertionError(
            f"the sweep never had {completed} complete trials and one running "
            f"{when or f'within {timeout:.0f} s'}; its stderr: {errors}"
        )


def required_strategies(names: Sequence[str]) -> list[str]:
    """``names`` less those not installed, except on CI (``CI=true``), where all must be.

    ``tpe`` comes from the hpfw-optuna plugin: a developer without it skips its
    cases, but CI installs it, so there a missing plugin fails the run instead
    of silently testing less.
    """
    from hpfw import available_strategies

    installed = set(available_strategies())
    missing = [n for n in names if n not in installed]
    if missing and os.environ.get("CI", "").lower() in ("true", "1"):
        raise RuntimeError(
            f"CI=true but strategies {missing} are not installed "
            "(pip install -e ./plugins/hpfw-optuna)"
        )
    return [n for n in names if n in installed]


# What two runs of the same trial may differ in: how long they took, where their
# program came from, and how they were batched.
TIMING_KEYS = frozenset(
    {
        "compile_seconds",
        "compile_cache",
        "train_seconds",
        "steps_per_second",
        "flops_per_second",
        "group",
        "objective",
    }
)


def assert_same_run(a: dict, b: dict, *, rel: float = 1e-3, acc: float = 2 / 359) -> None:
    """Two metrics dicts (``metrics.json``) of one trial agree in everything but timing.

    Losses agree to ``rel`` and accuracies to ``acc`` (a vmapped program sums in
    another order than the single-trial one, which can flip a sample or two of
    the 359 validation digits); everything else (status, device, epochs,
    steps, FLOPs, checkpoint) is equal. ``group`` (how the batched launcher ran
    a trial) is only there for trials it trained.
    """
    assert set(a) - {"group"} == set(b) - {"group"}, set(a) ^ set(b)
    for key in sorted(set(a) - TIMING_KEYS):
        x, y = a[key], b[key]
        if key == "epochs":
            assert set(x) == set(y) and x["epoch"] == y["epoch"]
            for curve in set(x) - {"epoch"}:
                tol = acc if "accuracy" in curve else None
                assert x[curve] == pytest.approx(y[curve], rel=rel, abs=tol or rel), curve
        elif isinstance(x, float) and "accuracy" in key:
            assert x == pytest.approx(y, abs=acc), key
        elif isinstance(x, float):
            assert x == pytest.approx(y, rel=rel, abs=rel), key
        else:
            assert x == y, key
