"""The Hydra adapter holds no strategy names: sweeper configs come from entry points and YAML."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import TOY, journal, run_cli, toy

LOCAL_STRATEGY = '''
"""A strategy that walks x upward in steps of ``step`` from ``start``: one file."""

from hpfw import Strategy


class Walk(Strategy):
    def __init__(self, space, *, direction="minimize", seed=None, start=0.0, step=0.25):
        super().__init__(space, direction=direction, seed=seed)
        self.start, self.step = start, step

    def ask(self, n):
        return [self.new_trial({"x": self.start + self.step * self._next_id}) for _ in range(n)]
'''


def install_plugin(root: Path) -> dict[str, str]:
    """A strategy package as a third party ships it: a module, an entry point, a YAML file."""
    package = root / "hpfw_walk"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(LOCAL_STRATEGY))
    (package / "walk.yaml").write_text("start: 0.0  # first x\nstep: 0.25  # x grows by this\n")
    info = root / "hpfw_walk-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpfw-walk\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[hpfw.strategies]\nwalk = hpfw_walk:Walk\n")
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def run_toy(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in env.items() if k != "HYDRA_FULL_ERROR"}
    command = [sys.executable, str(TOY), "-m", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_plugin_strategy_is_one_file_one_entry_point_one_yaml(tmp_path):
    env = install_plugin(tmp_path / "site")
    out = tmp_path / "sweep"
    result = run_toy(
        "hydra/sweeper=walk",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.step=0.1",  # an option its YAML declares: no '+' needed
        "x=interval(0,1)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    header, records = journal(out)
    assert header["strategy"] == "walk"
    assert header["options"] == {"start": 0.0, "step": 0.1}
    assert [r["params"]["x"] for r in records.values()] == [0.0, 0.1, 0.2]


def test_a_misspelt_option_fails_when_hydra_composes(tmp_path):
    env = install_plugin(tmp_path / "site")
    result = run_toy(
        "hydra/sweeper=walk", "hydra.sweeper.stpe=0.1", "x=interval(0,1)", cwd=tmp_path, env=env
    )
    assert result.returncode != 0
    assert "stpe" in result.stderr and "Traceback" not in result.stderr
    result = run_toy(
        "hydra/sweeper=walk", "hydra.sweeper.step=fast", "x=interval(0,1)", cwd=tmp_path, env=env
    )
    assert result.returncode != 0 and "step" in result.stderr


def test_builtin_options_come_from_their_yaml(tmp_path):
    """grid.yaml's shuffle reaches GridStrategy; a grid's total is its size, not n_trials."""
    out = tmp_path / "sweep"
    result = toy(
        "hydra/sweeper=grid",
        "hydra.sweeper.shuffle=true",
        "hydra.sweeper.seed=0",
        "x=0.1,0.2,0.3,0.4,0.5",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    xs = [r["params"]["x"] for r in journal(out)[1].values()]
    assert sorted(xs) == [0.1, 0.2, 0.3, 0.4, 0.5] and xs != sorted(xs)
    assert "[5/5]" in result.stdout and "/1000]" not in result.stdout


def test_direction_follows_hpfws_objective(tmp_path):
    """hpfw's config sets hydra.sweeper.objective and direction from `objective`."""
    common = ("hydra/sweeper=random", "hydra.sweeper.n_trials=1", "trainer.epochs=1")
    for objective, direction in (("val_accuracy", "maximize"), ("val_loss", "minimize")):
        out = tmp_path / objective
        result = run_cli(
            "-m",
            *common,
            f"objective={objective}",
            "optimizer.lr=interval(0.001,0.01)",
            f"hydra.sweep.dir={out}",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        header, records = journal(out)
        assert (header["objective"], header["direction"]) == (objective, direction)
        assert records[0]["value"] == records[0]["metrics"][objective]
    # A direction given on the command line wins.
    out = tmp_path / "explicit"
    result = run_cli(
        "-m",
        *common,
        "hydra.sweeper.direction=minimize",
        "optimizer.lr=interval(0.001,0.01)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert journal(out)[0]["direction"] == "minimize"


def test_adapter_names_no_strategy():
    source = (
        Path(__file__).parents[1] / "plugins/hydra_plugins/hpfw_sweeper/config.py"
    ).read_text()
    for name in ("grid", "bayes", "sha", "hyperband", "tpe"):
        assert f'"{name}"' not in source


def test_hpfw_app_composes_with_hydras_basic_sweeper(tmp_path):
    """hpfw's defaults reach its sweeper through the task function, not hydra.sweeper keys."""
    result = run_cli(
        "-m",
        "hydra/sweeper=basic",
        "trainer.epochs=1",
        "optimizer.lr=0.001,0.002",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0", "1"]
