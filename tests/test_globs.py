"""Globs that fit the task, and sweep totals that count what will really run."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from hpfw.config import config_dir
from hpfw.search import Categorical, Float, create_strategy
from hpfw.search.overrides import SweepOverrideError, parse_sweep
from hpfw.sweeper.hydra_sweep import left_out_line
from hpfw.sweeper.loop import planned_total
from hpfw.sweeper.settings import SweepError, SweepSettings
from hpfw.tasks import TASKS, glob_exclude
from hpfw.trainer import validate
from tests.helpers import journal, run_cli, toy

GROUPS = {"model": ["cnn", "decoder", "mlp", "transformer"], "data": ["digits", "markov"]}
LM_ONLY = {"model": {"decoder": "task=lm only"}, "data": {"markov": "task=lm only"}}


def parse(*overrides: str, exclude=LM_ONLY):
    return parse_sweep(overrides, group_options=lambda g: GROUPS.get(g, []), glob_exclude=exclude)


def test_a_glob_leaves_out_excluded_options_and_says_so():
    sweep = parse("model=glob(*)", "data=glob(d*)")
    assert sweep.params["model"].dist == Categorical(["cnn", "mlp", "transformer"])
    assert sweep.params["data"].dist == Categorical(["digits"])
    assert sweep.left_out == {"model": {"decoder": "task=lm only"}}  # d* never matched markov
    line = left_out_line(sweep.left_out)
    assert "model: decoder (task=lm only)" in line


def test_an_explicit_list_is_taken_as_written():
    sweep = parse("model=decoder,mlp")
    assert sweep.params["model"].dist == Categorical(["decoder", "mlp"]) and not sweep.left_out


def test_without_exclusions_a_glob_takes_every_option():
    assert (
        list(parse("model=glob(*)", exclude=None).params["model"].dist.choices) == GROUPS["model"]
    )


def test_a_glob_of_only_excluded_options_names_them():
    with pytest.raises(SweepOverrideError, match=r"no option of group 'model' that fits.*decoder"):
        parse("model=glob(dec*)")


def test_glob_exclude_setting_forms():
    raw = {"glob_exclude": {"db": ["sqlite"], "m": {"x": "why"}}}
    settings = SweepSettings.from_mapping(raw).resolve()
    assert settings.glob_exclude == {"db": {"sqlite": ""}, "m": {"x": "why"}}
    assert "db: sqlite (hydra.sweeper.glob_exclude)" in left_out_line({"db": {"sqlite": ""}})
    with pytest.raises(SweepError, match=r"hydra\.sweeper\.glob_exclude\.db"):
        SweepSettings.from_mapping({"glob_exclude": {"db": "sqlite"}}).resolve()


def test_task_options_are_one_list():
    assert glob_exclude("classify") == {
        "model": {"decoder": "task=lm only"},
        "data": {"markov": "task=lm only", "text": "task=lm only"},
    }
    assert set(glob_exclude("lm")["model"]) == {"mlp", "cnn", "transformer"}
    assert (TASKS["lm"].models, TASKS["lm"].datasets) == (validate.LM_MODELS, validate.LM_DATA)
    for group, field in (("model", "models"), ("data", "datasets")):  # each in one task
        shipped = sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))
        assert sorted(o for task in TASKS.values() for o in getattr(task, field)) == shipped


@pytest.mark.parametrize(
    "overrides,tie,excluded",
    [
        ([], "val_loss", {"decoder"}),
        (["objective=val_loss"], "val_accuracy", {"decoder"}),
        (["task=lm"], "val_loss", {"mlp", "cnn", "transformer"}),
    ],
)
def test_hpfws_app_sets_the_tie_breaker_and_exclusions(overrides, tie, excluded):
    from hpfw.app import train_task
    from hpfw.sweeper.app_defaults import app_defaults

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    settings = SweepSettings.from_mapping(cfg.hydra.sweeper).resolve(app_defaults(train_task, cfg))
    assert settings.tie_breaker == tie
    assert set(settings.glob_exclude["model"]) == excluded
    # A value the user gives wins over the app's.
    explicit = SweepSettings.from_mapping({"tie_breaker": "test_loss", "direction": "minimize"})
    explicit.resolve(app_defaults(train_task, cfg))
    assert (explicit.tie_breaker, explicit.direction) == ("test_loss", "minimize")


def test_other_apps_globs_are_untouched_unless_they_say(tmp_path):
    out = tmp_path / "all"
    result = toy("hydra/sweeper=grid", "opt=glob(*)", f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert journal(out)[0]["space"]["opt"]["choices"] == ["a", "b"]
    assert "left out" not in result.stdout

    out = tmp_path / "some"
    result = toy(
        "hydra/sweeper=grid",
        "opt=glob(*)",
        "+hydra.sweeper.glob_exclude.opt={b:'needs a licence'}",  # '+': a new group in it
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert journal(out)[0]["space"]["opt"]["choices"] == ["a"]
    assert "opt: b (needs a licence)" in result.stdout


def test_a_model_glob_runs_the_tasks_models_and_counts_them(tmp_path):
    """The issue's command: every trial runs, and the progress counts the grid's 3, not 1000."""
    out = tmp_path / "sweep"
    result = run_cli(
        "-m", "model=glob(*)", "trainer.epochs=1", f"hydra.sweep.dir={out}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "glob left out" in result.stdout and "model: decoder (task=lm only)" in result.stdout
    assert "3 trials in batches of 1" in result.stdout
    assert (
        "[3/3]" in result.stdout and "/1000]" not in result.stdout and "/20]" not in result.stdout
    )
    header, records = journal(out)
    assert header["space"]["model"]["choices"] == ["cnn", "mlp", "transformer"]
    assert [r["state"] for r in records.values()] == ["complete"] * 3


SPACE = {"x": Float(0.0, 1.0), "opt": Categorical(["a", "b", "c", "d"])}


@pytest.mark.parametrize(
    "strategy,options,n_trials,total",
    [
        ("grid", {"grid_points": 3}, None, 12),  # the grid's size
        ("grid", {"grid_points": 3}, 1000, 12),  # n_trials only caps it
        ("grid", {"grid_points": 3}, 5, 5),
        ("random", {}, 20, 20),
        ("bayes", {}, 8, 8),
        ("sha", {"max_budget": 9}, None, 9 + 3 + 1),  # every rung's trials
        ("hyperband", {"max_budget": 9}, None, (9 + 3 + 1) + (5 + 1) + 3),
    ],
)
def test_planned_totals(strategy, options, n_trials, total):
    made = create_strategy(strategy, SPACE, seed=0, **options)
    assert planned_total(made, SweepSettings(strategy=strategy, n_trials=n_trials)) == total
