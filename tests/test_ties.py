"""Trials tied on the objective: the best is the one with the better tie-breaker metric."""

from __future__ import annotations

import pytest
import yaml

import hpfw
from hpfw.config import metric_direction, tie_breaker
from hpfw.sweeper.reports import best_trial, ranked, write_reports
from hpfw.sweeper.resume import new_header
from hpfw.sweeper.settings import SweepError, SweepSettings
from hpfw.sweeper.summary import summary_table
from tests.helpers import journal, toy

VAL_ACC = 35 / 36  # 36 validation samples: accuracy moves in steps of 1/36, so trials tie


def record(id_: int, value: float | None, state: str = "complete", **metrics: float) -> dict:
    """A trial record as the journal holds it, with hpfw-like metrics."""
    return {
        "type": "trial",
        "id": id_,
        "job": id_,
        "params": {"optimizer.lr": 0.001 * (id_ + 1)},
        "inactive": [],
        "overrides": [f"optimizer.lr={0.001 * (id_ + 1)}"],
        "state": state,
        "value": value,
        "metrics": {"val_accuracy": value, **metrics} if value is not None else {},
        "info": {},
    }


def header(tie: str | None = "val_loss", tie_direction: str | None = "minimize") -> dict:
    return {
        "strategy": "bayes",
        "direction": "maximize",
        "objective": "val_accuracy",
        "tie_breaker": tie,
        "tie_breaker_direction": tie_direction,
        "space": {},
        "fixed_overrides": ["data=npz"],
        "command": "hpfw",
    }


# The sweep: several trials tied at 35/36, the first of them with a val_loss of 15.9.
TIED = [
    record(0, 0.9167, val_loss=0.30),
    record(1, VAL_ACC, val_loss=15.9),
    record(2, VAL_ACC, val_loss=0.12),
    record(3, None, state="failed"),
    record(4, VAL_ACC, val_loss=0.45),
    record(5, VAL_ACC),  # returned no val_loss: ranks after the tied trials that did
]


def test_ties_go_to_the_lower_val_loss():
    assert [t["id"] for t in ranked(header(), TIED)] == [2, 4, 1, 5, 0]
    assert best_trial(header(), TIED)["id"] == 2


def test_without_a_tie_breaker_ties_keep_id_order():
    for old in (header(None, None), {k: v for k, v in header().items() if "tie" not in k}):
        assert [t["id"] for t in ranked(old, TIED)] == [1, 2, 4, 5, 0]


def test_a_maximised_tie_breaker():
    trials = [record(0, 0.5, f1=0.2), record(1, 0.5, f1=0.7), record(2, 0.5, f1=0.4)]
    assert [t["id"] for t in ranked(header("f1", "maximize"), trials)] == [1, 2, 0]


def test_larger_budgets_still_rank_first():
    small = {**record(0, VAL_ACC, val_loss=0.01), "info": {"budget": 1}}
    large = {**record(1, VAL_ACC, val_loss=0.50), "info": {"budget": 9}}
    assert best_trial(header(), [small, large])["id"] == 1


def test_best_yaml_and_the_summary_agree(tmp_path):
    from hpfw.sweeper.journal import Journal

    Journal(tmp_path).write_header(header())
    assert write_reports(tmp_path, header(), TIED, plots=False)["id"] == 2
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best["trial"] == 2 and best["metrics"]["val_loss"] == 0.12
    table = summary_table(header(), TIED)
    assert [c.header for c in table.columns][2:4] == ["val_accuracy ↑", "val_loss ↓"]
    assert list(table.columns[1].cells)[:3] == ["2", "4", "1"]


def test_hpfw_defaults_and_directions():
    assert tie_breaker("val_accuracy") == "val_loss"
    assert tie_breaker("val_loss") == "val_accuracy"
    assert tie_breaker("gen_tv") == "val_loss"
    assert metric_direction("val_loss") == "minimize"
    settings = SweepSettings(tie_breaker="val_loss")
    assert settings.tie_direction() == "minimize"
    assert SweepSettings(
        tie_breaker="reward", tie_breaker_direction="maximize"
    ).tie_direction() == ("maximize")
    assert SweepSettings().tie_direction() is None  # any other app: id order
    head = new_header(settings, {})
    assert (head["tie_breaker"], head["tie_breaker_direction"]) == ("val_loss", "minimize")


@pytest.mark.parametrize(
    "raw,key",
    [
        ({"tie_breaker_direction": "up"}, "tie_breaker_direction"),
        ({"tie_breaker": 3}, "tie_breaker"),
    ],
)
def test_bad_tie_breaker_settings(raw, key):
    with pytest.raises(SweepError, match=f"hydra.sweeper.{key}"):
        SweepSettings.from_mapping(raw).resolve()


def test_a_sweep_of_a_user_app_breaks_ties(tmp_path):
    """The toy app's coarse_accuracy ties for every x; its loss decides, everywhere alike."""
    common = (
        "hydra/sweeper=grid",
        "returns=mapping",
        "opt=b",
        "hydra.sweeper.objective=coarse_accuracy",
        "hydra.sweeper.direction=maximize",
        "x=0.1,0.2,0.3,0.4,0.5",
    )
    plain = toy(*common, f"hydra.sweep.dir={tmp_path / 'plain'}", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert journal(tmp_path / "plain")[0]["tie_breaker"] is None  # not set: id order
    assert yaml.safe_load((tmp_path / "plain" / "best.yaml").read_text())["trial"] == 0

    out = tmp_path / "tied"
    result = toy(*common, "hydra.sweeper.tie_breaker=loss", f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    head, records = journal(out)
    assert (head["tie_breaker"], head["tie_breaker_direction"]) == ("loss", "minimize")
    assert len({r["value"] for r in records.values()}) == 1  # every trial tied
    assert records[2]["params"]["x"] == 0.3  # the lowest loss
    assert yaml.safe_load((out / "best.yaml").read_text())["trial"] == 2
    assert "Best trial: #2" in result.stdout
    assert "[5/5] best 0.75 (trial 2)" in result.stdout  # the progress line agrees


def test_the_python_api_breaks_ties_too(tmp_path):
    def objective(params):
        loss = (params["x"] - 0.3) ** 2
        return {"objective": 0.75 if loss < 0.2 else 0.5, "loss": loss}

    result = hpfw.sweep(
        objective,
        {"x": hpfw.Categorical([0.1, 0.2, 0.3, 0.4])},
        strategy="grid",
        direction="maximize",
        tie_breaker="loss",
        backend="threads",
        directory=tmp_path / "sweep",
        verbose=False,
    )
    assert result.best.params == {"x": 0.3} and result.header["tie_breaker"] == "loss"
