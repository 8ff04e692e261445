"""hpfw works however it is installed: pip's default editable mode, a plain install, a wheel, uv.

Each mode installs a copy of the repository into a fresh virtual environment
and then runs what a new user runs: plain ``hpfw``, a sweep with
``hydra/sweeper=random`` and ``hydra/launcher=batched``, and a user's own
``@hydra.main`` app that picks ``hydra/sweeper=bayes``. Hydra finds hpfw's
plugins by scanning the ``hydra_plugins`` namespace package, which is what
an install can break (docs/architecture.md, "Packaging").

To stay fast and offline, nothing is downloaded: the new environment sees
this one's dependencies through a ``.pth`` file (a folder of links to them,
hpfw's own files left out) and installs with ``--no-deps
--no-build-isolation``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import ROOT, TOY, journal

OWN = ("hpfw", "__editable__", "_hpfw")  # this environment's install of hpfw (and plugins)


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "PYTHONPATH")}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of links to this environment's packages, hpfw's own left out."""
    folder = tmp_path_factory.mktemp("deps")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OWN) and entry.suffix != ".pth":
            (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as git sees them (no environment, no build outputs)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    copy = tmp_path_factory.mktemp("src")
    for name in listed:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


def _venv(path: Path, dependencies: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "hpfw-test-deps.pth").write_text(f"{dependencies}\n")
    return python


def _install(mode: str, python: Path, source: Path, work: Path) -> None:
    pip = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    if mode == "pip -e":
        _run([*pip, "-e", str(source)], work)
    elif mode == "pip":
        _run([*pip, str(source)], work)
    elif mode == "wheel":
        dist = work / "dist"
        wheel = [str(python), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        _run([*wheel, "-w", str(dist), str(source)], work)
        _run([*pip, *map(str, dist.glob("hpfw-*.whl"))], work)
    else:  # uv pip install -e .
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        assert uv is not None, "uv is a dev dependency: pip install -e '.[dev]'"
        flags = ["--no-deps", "--no-build-isolation", "--offline", "--python", str(python)]
        _run([uv, "pip", "install", "-q", *flags, "-e", str(source)], work)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"\n{ci}\n" in readme and "pytest" in ci
    assert "--config-settings" not in ci  # pip's default editable mode


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["pip -e", "pip", "wheel", "uv pip -e"])
def test_installed_hpfw_runs_sweeps_and_serves_a_users_app(
    mode: str, dependencies: Path, source: Path, tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv", dependencies)
    _install(mode, python, source, tmp_path)
    hpfw = str(python.parent / "hpfw")

    _run([hpfw, "trainer.epochs=1", "hydra.run.dir=run"], tmp_path)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "complete"

    sweep = [hpfw, "-m", "hydra/sweeper=random", "hydra/launcher=batched", "trainer.epochs=1"]
    sweep += ["hydra.sweeper.n_trials=2", "hydra.sweeper.batch_size=2", "hydra.sweep.dir=sweep"]
    _run([*sweep, "optimizer.lr=tag(log, interval(1e-3, 1e-1))"], tmp_path)
    assert [r["state"] for r in journal(tmp_path / "sweep")[1].values()] == ["complete"] * 2

    app = [str(python), str(TOY), "-m", "hydra/sweeper=bayes", "hydra.sweeper.n_trials=3"]
    _run([*app, "x=interval(0, 1)", "hydra.sweep.dir=bayes"], tmp_path)
    header, records = journal(tmp_path / "bayes")
    assert header["strategy"] == "bayes" and len(records) == 3

    where = _run([str(python), "-c", "import hpfw; print(hpfw.__file__)"], tmp_path).stdout
    assert Path(where.strip()).is_relative_to(source if "-e" in mode else tmp_path / "venv")
