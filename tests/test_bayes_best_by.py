"""``hydra.sweeper.best_by=posterior``: best.yaml names the trial with the best posterior mean."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import hpfw
from hpfw.search.bayes import BayesStrategy
from hpfw.search.space import from_json
from hpfw.search.strategy import Trial
from tests.helpers import journal, toy


def _true_loss(x: float) -> float:
    return (x - 0.3) ** 2 + 0.01 * (1 - 3) ** 2  # the toy app's loss without its noise (n=1)


@pytest.mark.slow
def test_best_by_posterior_names_the_trial_the_gp_judges_best(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = toy(
        "hydra/sweeper=bayes",
        "hydra.sweeper.n_trials=14",
        "hydra.sweeper.n_initial=6",
        "hydra.sweeper.seed=0",
        "hydra.sweeper.best_by=posterior",
        "noise=0.05",
        "x=interval(0,1)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["best_by"] == "posterior"
    header, records = journal(out)
    done = [r for r in records.values() if r["state"] == "complete"]
    # The same judgement as the Python API's strategy.best with best_by="posterior".
    space = {name: from_json(spec) for name, spec in header["space"].items()}
    strategy = BayesStrategy(space, seed=0, best_by="posterior")
    for r in sorted(done, key=lambda r: r["id"]):
        strategy.tell(Trial(r["id"], r["params"]), r["value"])
    assert best["trial"] == strategy.best.id
    assert hpfw.load(out).best.id == best["trial"]
    assert f"Best trial: #{best['trial']} " in result.stdout
    # The posterior's pick is at least as good in truth as the lowest observed value.
    lucky = min(done, key=lambda r: r["value"])
    assert _true_loss(best["params"]["x"]) <= _true_loss(lucky["params"]["x"])


def test_a_bad_best_by_is_one_line_naming_the_key_and_the_choices(tmp_path: Path) -> None:
    result = toy(
        "hydra/sweeper=bayes",
        "hydra.sweeper.best_by=mean",
        "x=interval(0,1)",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1]
        == "hpfw: error: hydra.sweeper.best_by must be one of observed, posterior, got 'mean'"
    )
    assert "Traceback" not in result.stderr
