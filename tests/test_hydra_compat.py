"""A Hydra user's app under hpfw's plugins behaves as under Hydra's own (in process, no JAX).

Tasks that return no number, ``-m`` with nothing to sweep, a sweep that
stops at its first deterministic configuration error, Hydra's docs' sweeper
examples, callbacks and ``JobReturn.hydra_cfg`` under the batched launcher.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

import hpfw
from hpfw.errors import ConfigError
from hpfw.sweeper.precheck import same_for_every_trial, touches
from hpfw.sweeper.settings import SweepError
from hpfw.sweeper.summary import no_best_reason
from tests.helpers import ROOT, TOY, journal, run_cli

DOCS_APP = ROOT / "tests" / "apps" / "hydra_docs" / "app.py"
pytestmark = pytest.mark.usefixtures("hydra_restore_singletons")


def sweep(runner: Any, tmp_path: Path, task: Any, *overrides: str, app: Path = TOY) -> Any:
    """Runs ``-m`` of ``app`` in this process with ``task`` as its task function."""
    return runner(
        calling_file=str(app),
        calling_module=None,
        task_function=task,
        config_path=".",
        config_name="toy" if app == TOY else "config",
        overrides=list(overrides),
        temp_dir=tmp_path / "sweep",
    )


@pytest.mark.parametrize("strategy", ["grid", "random"])
def test_a_task_returning_none_completes_without_a_value(hydra_sweep_runner, tmp_path, strategy):
    args = [f"hydra/sweeper={strategy}", "hydra.sweeper.n_trials=3", "x=0.1,0.2,0.3"]
    with sweep(hydra_sweep_runner, tmp_path, lambda cfg: None, *args) as done:
        out = Path(done.temp_dir)
        _, records = journal(out)
        assert [r["state"] for r in records.values()] == ["complete"] * 3
        assert all(r["value"] is None for r in records.values())
        assert [len(batch) for batch in done.returns] == [1, 1, 1]
        result = hpfw.load(out)
        assert result.best is None and [t.state for t in result.trials] == ["complete"] * 3
        assert (out / "trials.csv").exists() and not (out / "best.yaml").exists()
        assert not (out / "history.png").exists()  # nothing to plot
        reason = no_best_reason(list(records.values()))  # what the summary prints
        assert reason.startswith("No values were reported: 3 trials completed")


# These sweeps stop with one line and status 2 on the command line (tests/test_config_keys.py
# runs one); HYDRA_FULL_ERROR=1 raises the error itself instead, to look at here. (capsys
# is avoided: Hydra's logging set-up in this process would close pytest's captured stderr.)
def test_a_task_returning_no_number_stops_a_strategy_that_needs_values(
    hydra_sweep_runner, tmp_path, monkeypatch
):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    args = ["hydra/sweeper=bayes", "hydra.sweeper.n_trials=5", "x=interval(0,1)"]
    with (
        pytest.raises(SweepError) as stopped,
        sweep(hydra_sweep_runner, tmp_path, lambda cfg: "done", *args),
    ):
        pass
    message = str(stopped.value)
    assert "hydra.sweeper.objective" in message and "\n" not in message
    assert "'done' (str), not a number" in message
    _, records = journal(tmp_path / "sweep")
    assert len(records) == 1 and records[0]["state"] == "failed"


@pytest.mark.parametrize("strategy", ["grid", "random", "bayes"])
def test_nothing_to_sweep_runs_the_one_job(hydra_sweep_runner, tmp_path, strategy):
    with sweep(hydra_sweep_runner, tmp_path, lambda cfg: cfg.x, f"hydra/sweeper={strategy}") as s:
        assert len(s.returns) == 1 and len(s.returns[0]) == 1
        assert s.returns[0][0].return_value == 0.0
        header, records = journal(Path(s.temp_dir))
        assert header["strategy"] == "grid" and header["space"] == {}
        assert records[0]["state"] == "complete" and records[0]["value"] == 0.0


def test_the_same_config_error_in_the_first_trial_stops_the_sweep(
    hydra_sweep_runner, tmp_path, monkeypatch
):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")

    def task(cfg: DictConfig) -> float:
        raise ConfigError("opt.penalty", "not with this data")

    args = ["hydra/sweeper=random", "hydra.sweeper.n_trials=8", "x=interval(0,1)"]
    with (
        pytest.raises(SweepError) as stopped,
        sweep(hydra_sweep_runner, tmp_path, task, *args),
    ):
        pass
    assert str(stopped.value) == "Invalid config 'opt.penalty': not with this data"
    assert len(journal(tmp_path / "sweep")[1]) == 1  # not max_failures' worth


def test_a_config_error_of_a_swept_value_fails_only_its_trial(hydra_sweep_runner, tmp_path):
    def task(cfg: DictConfig) -> float:
        if cfg.x > 0.5:
            raise ConfigError("x", "too large")
        return cfg.x

    args = ["hydra/sweeper=grid", "x=0.9,0.1,0.8,0.2"]
    with sweep(hydra_sweep_runner, tmp_path, task, *args) as done:
        _, records = journal(Path(done.temp_dir))
        assert [r["state"] for r in records.values()] == ["failed", "complete"] * 2


def test_which_errors_every_trial_would_repeat():
    swept = {"x": None, "opt": None, "model.lr": None}
    assert same_for_every_trial(ConfigError("generation.checkpoint", "m"), swept)
    assert not same_for_every_trial(ConfigError("opt.penalty", "m"), swept)  # a swept group
    assert not same_for_every_trial(ConfigError("model", "m"), swept)  # holds a swept key
    assert not same_for_every_trial(ValueError("m"), swept)
    assert touches("x", {"x"}) and not touches("xy", {"x"})


def _jobs(returns: list[list[Any]]) -> list[tuple[list[str], dict]]:
    return [(list(r.overrides), dict(r.cfg)) for batch in returns for r in batch]


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # hydra.sweeper.params in the primary config, as Hydra's docs write it
        ["db=postgresql"],  # a command-line override narrows the config's sweep
        ["schema=school", "db=mysql,postgresql"],
    ],
)
def test_hydra_docs_sweeper_examples_run_the_jobs_hydra_runs(
    hydra_sweep_runner, tmp_path, overrides
):
    """The same jobs, configs and order as Hydra's basic sweeper, for Hydra's docs' app."""
    runs = {}
    for sweeper in ("basic", "grid"):
        args = [f"hydra/sweeper={sweeper}", *overrides]
        if sweeper == "grid":
            args.append("hydra.sweeper.batch_size=100")  # Hydra launches every job at once
        with sweep(hydra_sweep_runner, tmp_path / sweeper, None, *args, app=DOCS_APP) as s:
            runs[sweeper] = _jobs(s.returns)
    assert runs["grid"] == runs["basic"] and len(runs["basic"]) >= 2


class Recorder(Callback):
    """Records what each job's callbacks see."""

    events: list[tuple[str, Any, Any]] = []

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        Recorder.events.append(("start", config.hydra.job.num, config.x))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        hydra_num = job_return.hydra_cfg.hydra.job.num
        Recorder.events.append(("end", hydra_num, job_return.return_value))


@pytest.mark.parametrize("launcher", ["basic", "batched"])
def test_callbacks_fire_once_per_job_with_a_filled_job_return(
    hydra_sweep_runner, tmp_path, launcher
):
    Recorder.events = []
    callback = f"+hydra.callbacks.recorder._target_={__name__}.Recorder"
    args = [f"hydra/launcher={launcher}", "hydra/sweeper=grid", "hydra.sweeper.batch_size=2"]
    args += [callback, "x=1.0,2.0"]
    with sweep(hydra_sweep_runner, tmp_path, lambda cfg: cfg.x * 10, *args):
        pass
    assert Recorder.events == [
        ("start", 0, 1.0),
        ("end", 0, 10.0),
        ("start", 1, 2.0),
        ("end", 1, 20.0),
    ]


def test_batched_jobs_see_their_hydra_runtime(hydra_sweep_runner, tmp_path):
    def task(cfg: DictConfig) -> float:
        job = HydraConfig.get().job
        assert Path(HydraConfig.get().runtime.output_dir).name == str(job.num)
        return float(job.num)

    args = ["hydra/launcher=batched", "hydra/sweeper=grid", "hydra.sweeper.batch_size=3"]
    args.append("x=1.0,2.0,3.0")
    with sweep(hydra_sweep_runner, tmp_path, task, *args) as done:
        rets = done.returns[0]
        assert [r.return_value for r in rets] == [0.0, 1.0, 2.0]
        assert [r.hydra_cfg.hydra.job.num for r in rets] == [0, 1, 2]
        assert {r.hydra_cfg.hydra.job.name for r in rets} == {"app"}
        assert [r.hydra_cfg.hydra.overrides.task for r in rets] == [["x=1.0"], ["x=2.0"], ["x=3.0"]]


def test_cfg_hydra_shows_every_sweeper_option_with_its_comment(tmp_path):
    done = run_cli("hydra/sweeper=sha", "--cfg", "hydra", "-p", "hydra.sweeper", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[1].startswith("# hydra/sweeper=sha: successive halving")
    options = [line for line in lines if not line.startswith("#")]
    assert options and all("  # " in line for line in options), options
    assert "eta: 3" in done.stdout and "each rung keeps the best 1/eta" in done.stdout
    assert yaml.safe_load(done.stdout)["max_budget"] == 27  # still the same YAML


def test_info_plugins_lists_a_sweeper_per_strategy_and_the_launcher():
    from hydra.core.plugins import Plugins
    from hydra_plugins.hpfw_sweeper.config import strategy_names

    names = {p.__name__ for p in Plugins.instance().discover()}
    assert {"grid", "random", "bayes", "sha", "hyperband"} <= set(strategy_names())
    for strategy in strategy_names():  # the installed ones: entry points, plugins' too
        assert f"Hpfw{strategy.title()}Sweeper" in names
    assert {"HpfwSweeper", "BatchedLauncher"} <= names


def test_python_objectives_that_return_nothing(tmp_path):
    space = {"x": hpfw.Float(0.0, 1.0)}
    kwargs = {"n_trials": 3, "backend": "threads", "seed": 0, "verbose": False}
    result = hpfw.sweep(
        lambda p: None, space, strategy="random", directory=tmp_path / "r", **kwargs
    )
    assert [t.state for t in result.trials] == ["complete"] * 3 and result.best is None
    with pytest.raises(ValueError, match=r"not a number.*objective_key"):
        hpfw.sweep(lambda p: None, space, strategy="bayes", directory=tmp_path / "b", **kwargs)
    assert len(hpfw.load(tmp_path / "b").trials) == 1
