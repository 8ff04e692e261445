"""Test helpers: composing hpfw's config the way the CLI does, and tiny trainer settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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


def journal(sweep_dir: Path) -> tuple[dict, dict[int, dict]]:
    """The journal's header and the latest record of each trial, by id."""
    lines = [json.loads(line) for line in (sweep_dir / "trials.jsonl").read_text().splitlines()]
    return lines[0], {r["id"]: r for r in lines[1:]}


def kill_mid_sweep(command: Sequence[str], cwd: Path, sweep_dir: Path, completed: int) -> None:
    """Starts a sweep and SIGKILLs it (its whole process group) while a trial is running.

    Waits until the journal holds at least ``completed`` complete trials and its
    last record is a launched, unfinished one; the process group goes too, so
    a launcher's worker processes die with their driver.
    """
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    path = sweep_dir / "trials.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not path.exists():
            continue
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]
        done = sum(1 for r in lines if r.get("state") == "complete")
        if done >= completed and lines[-1].get("state") == "running":
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
