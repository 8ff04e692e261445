"""The wheel: hpfw's config tree and Hydra plugins ship inside it and work from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (path,) = out.glob("hpfw-*.whl")
    return path


def test_wheel_holds_the_config_tree_and_the_plugins(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "hpfw/conf/config.yaml",
        "hpfw/conf/model/mlp.yaml",
        "hpfw/conf/search/mlp.yaml",
        "hpfw/conf/hydra/help/hpfw.yaml",  # hpfw --help
        "hydra_plugins/hpfw_sweeper/hpfw_sweeper.py",
        "hydra_plugins/hpfw_launcher/batched_launcher.py",
        "hpfw/py.typed",
        "hpfw/sweeper/assets/vega.min.js",  # report.html inlines these
        "hpfw/sweeper/assets/report.js",
        "hpfw/sweeper/assets/report.template.html",
        "hydra_plugins/hpfw_tracking/callbacks.py",
    ):
        assert required in names, required
    assert not any(n.startswith("hydra_plugins/__init__") for n in names)  # a namespace
    # pyproject.toml lists the packages: a new one left off that list would be missing here.
    for init in (ROOT / "hpfw").rglob("__init__.py"):
        assert init.relative_to(ROOT).as_posix() in names, init


def test_a_run_from_the_unpacked_wheel_finds_its_configs(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("HYDRA_FULL_ERROR", None)
    result = subprocess.run(
        [sys.executable, "-c", "import hpfw.config as c; print(c.config_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(site / "hpfw" / "conf")
    run = subprocess.run(
        [sys.executable, "-m", "hpfw", "--cfg", "job", "model=cnn"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "num_conv_layers" in run.stdout
