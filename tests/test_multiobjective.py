"""Several objectives and constraints: the journal, the front, reports, resume, errors."""

from __future__ import annotations

import pytest
import yaml

import hpfw
from hpfw.search import Trial, TrialState, register_strategy
from hpfw.search.multifidelity.brackets import promote_pareto
from hpfw.search.pareto import as_minimized, pareto_front
from hpfw.search.random import RandomStrategy
from hpfw.sweeper.settings import SweepError
from tests.helpers import journal, run_cli

SPACE = {"x": hpfw.Float(0.0, 1.0), "y": hpfw.Float(0.0, 1.0)}
TWO = {"f1": "minimize", "f2": "maximize"}


def two(params):
    """f1 down, f2 up: they conflict along x; y only hurts f2. cost = 10 x."""
    x, y = params["x"], params["y"]
    return {"f1": x, "f2": 1.0 - (1.0 - x) ** 2 - y, "cost": 10 * x}


def sweep(directory, n_trials=12, **kwargs):
    kwargs.setdefault("objectives", TWO)
    return hpfw.sweep(two, SPACE, strategy="random", n_trials=n_trials, seed=0,
                      directory=directory, verbose=False, **kwargs)  # fmt: skip


def test_journal_front_and_reports(tmp_path):
    result = sweep(tmp_path / "s")
    header, records = journal(tmp_path / "s")
    assert header["objectives"] == TWO and header["objective"] == "f1"
    for r in records.values():
        expected = two(r["params"])
        assert r["values"] == {"f1": expected["f1"], "f2": expected["f2"]}
    # The front computed here, independently: maximised f2 flipped.
    ids = sorted(records)
    points = as_minimized([[records[i]["values"][k] for k in TWO] for i in ids], TWO.values())
    expected_front = {ids[i] for i in pareto_front(points)}
    assert {t.id for t in result.front} == expected_front and len(expected_front) > 2
    best = yaml.safe_load((tmp_path / "s" / "best.yaml").read_text())
    assert {p["trial"] for p in best["front"]} == expected_front
    assert all("two({" in p["command"] for p in best["front"])
    assert best["trial"] == min(expected_front, key=lambda i: records[i]["values"]["f1"])
    for name in ("pareto.png", "history.png", "trials.csv"):
        assert (tmp_path / "s" / name).stat().st_size > 0


def test_infeasible_trials_are_recorded_and_never_best(tmp_path):
    result = sweep(tmp_path / "s", constraints=["cost <= 5"])
    header, records = journal(tmp_path / "s")
    assert header["constraints"] == ["cost <= 5"]
    infeasible = {i for i, r in records.items() if r["feasible"] is False}
    assert infeasible == {i for i, r in records.items() if r["params"]["x"] > 0.5}
    assert infeasible and all(records[i]["state"] == "complete" for i in infeasible)
    assert records[min(infeasible)]["slacks"]["cost <= 5"] > 0
    assert not {t.id for t in result.front} & infeasible
    assert result.best.feasible and result.best.id not in infeasible


def test_no_feasible_trial_means_no_best(tmp_path, capsys):
    result = sweep(tmp_path / "s", n_trials=3, constraints=["cost < 0"])
    assert result.best is None and result.front == []
    assert not (tmp_path / "s" / "best.yaml").exists()
    from hpfw.sweeper.summary import print_summary

    print_summary(result.header, [t.record for t in result.trials])
    assert "No trial met the constraints: 3 of 3" in capsys.readouterr().out


def test_single_objective_with_a_constraint(tmp_path):
    result = hpfw.sweep(two, SPACE, strategy="random", n_trials=10, seed=1, objective_key="f2",
                        direction="maximize", constraints=["cost <= 3"],
                        directory=tmp_path / "s", verbose=False)  # fmt: skip
    feasible = [t for t in result.trials if t.feasible]
    assert result.best.id == max(feasible, key=lambda t: t.value).id
    assert result.best.params["x"] <= 0.3


@pytest.mark.slow
@pytest.mark.usefixtures("no_drawing")
def test_resume_with_several_objectives(tmp_path):
    sweep(tmp_path / "s", n_trials=5)
    sweep(tmp_path / "s", n_trials=9, resume=True)  # a finished sweep extends
    sweep(tmp_path / "whole", n_trials=9)
    _, resumed = journal(tmp_path / "s")
    _, whole = journal(tmp_path / "whole")
    assert sorted(resumed) == list(range(9))
    assert [resumed[i]["values"] for i in range(9)] == [whole[i]["values"] for i in range(9)]
    with pytest.raises(SweepError, match=r"cannot resume .*objectives changed"):
        sweep(tmp_path / "s", n_trials=10, resume=True, objectives={"f1": "minimize"})


def test_a_missing_objective_stops_the_sweep_naming_the_setting(tmp_path):
    with pytest.raises(SweepError, match="no metric 'f3' that objectives names"):
        sweep(tmp_path / "s", n_trials=3, objectives={"f1": "minimize", "f3": "minimize"})
    with pytest.raises(SweepError, match="no metric 'speed' that constraints names"):
        sweep(tmp_path / "t", n_trials=3, constraints=["speed > 1"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objectives": {"f1": "down"}}, r"^Invalid objectives.f1: got 'down'; allowed: "),
        ({"objectives": ["f1"]}, r"^Invalid objectives: got \['f1'\]; allowed: a mapping"),
        ({"constraints": ["cost =< 1"]}, r"^Invalid constraints\[0\]: got 'cost =< 1'"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, kwargs, message):
    with pytest.raises(SweepError, match=message):
        sweep(tmp_path / "s", n_trials=2, **kwargs)
    assert not (tmp_path / "s" / "trials.jsonl").exists()


class OneObjective(RandomStrategy):
    multi_objective = False


register_strategy("test-one-objective", OneObjective)


def test_a_single_objective_strategy_refuses_several(tmp_path):
    with pytest.raises(SweepError, match="strategy optimises one objective"):
        hpfw.sweep(two, SPACE, strategy="test-one-objective", n_trials=2, objectives=TWO,
                   directory=tmp_path / "s", verbose=False)  # fmt: skip


def test_cli_bad_objectives_is_one_line(tmp_path):
    result = run_cli("-m", "hydra/sweeper=random", "optimizer.lr=interval(0.01,0.1)",
                     "hydra.sweeper.objectives={val_accuracy:up}",
                     f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "hpfw: error: Invalid hydra.sweeper.objectives.val_accuracy: got 'up'; "
        "allowed: minimize or maximize"
    ]


@pytest.mark.slow
def test_cli_digits_accuracy_against_parameters(tmp_path):
    out = tmp_path / "s"
    result = run_cli("-m", "hydra/sweeper=random", "hydra.sweeper.n_trials=3",
                     "hydra.sweeper.seed=0", "trainer.epochs=1",
                     "hydra.sweeper.objectives={val_accuracy:maximize,params:minimize}",
                     'hydra.sweeper.constraints=["train_seconds <= 600"]',
                     "model.hidden_dim=choice(16,64)", f"hydra.sweep.dir={out}",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Pareto front" in result.stdout
    _, records = journal(out)
    for r in records.values():
        assert set(r["values"]) == {"val_accuracy", "params"} and r["feasible"] is True
        assert r["metrics"]["params"] == r["values"]["params"] > 0
        assert r["metrics"]["flops"] > 0 and r["metrics"]["train_seconds"] > 0
    sizes = {r["params"]["model.hidden_dim"]: r["values"]["params"] for r in records.values()}
    assert len(sizes) < 2 or sizes[16] < sizes[64]
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["front"] and all("model.hidden_dim=" in p["command"] for p in best["front"])
    assert (out / "pareto.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.usefixtures("no_drawing")
def test_bayes_models_feasibility(tmp_path):
    # Maximise f2 subject to 10 (x + y) <= 4: the optimum is x = 0.4, y = 0 (f2 = 0.64).
    def costly(params):
        return {**two(params), "cost": 10 * (params["x"] + params["y"])}

    result = hpfw.sweep(costly, SPACE, strategy="bayes", n_trials=12, seed=0, n_initial=6,
                        objective_key="f2", direction="maximize", constraints=["cost <= 4"],
                        directory=tmp_path / "s", verbose=False)  # fmt: skip
    model = [t for t in result.trials if t.info.get("source") == "gp"]
    assert len(model) == 6
    assert result.best.feasible and result.best.value > 0.6  # Sobol's best feasible: < 0.
    # The model learns where feasible trials are (all 6 Sobol points were infeasible) and
    # closes in on the constraint's boundary, x + y = 0.4, where the optimum is.
    assert sum(t.feasible for t in model) >= 4
    assert all(abs(t.params["x"] + t.params["y"] - 0.4) < 0.1 for t in model[-3:])


@pytest.mark.usefixtures("no_drawing")
def test_bayes_with_several_objectives(tmp_path):
    result = hpfw.sweep(two, SPACE, strategy="bayes", n_trials=12, seed=0, n_initial=5,
                        objectives=TWO, directory=tmp_path / "s", verbose=False)  # fmt: skip
    model = [t for t in result.trials if t.info.get("source") == "gp"]
    assert len(model) == 7 and all(len(t.values) == 2 for t in model)
    # y only hurts f2: the model's proposals keep it small, spread along x.
    assert sum(t.params["y"] < 0.2 for t in model) >= 5
    assert len({round(t.params["x"], 1) for t in result.front}) >= 3


def _told(values, feasible=True, slacks=()):
    return Trial(0, {}, state=TrialState.complete, value=values[0], values=tuple(values),
                 feasible=feasible, slacks=tuple(slacks))  # fmt: skip


@pytest.mark.parametrize(
    ("rung", "k", "kept"),
    [
        # (config, (accuracy up, params down)): 1 and 3 are the front; 3 is not dominated by 1.
        ([(0, (0.8, 300)), (1, (0.9, 100)), (2, (0.7, 200)), (3, (0.95, 400))], 2, [1, 3]),
        # Three on the front, keep 2: the extremes (crowding distance inf) first.
        ([(0, (0.9, 300)), (1, (0.8, 200)), (2, (0.7, 100)), (3, (0.5, 900))], 2, [0, 2]),
    ],
)
def test_successive_halving_keeps_the_front(rung, k, kept):
    trials = [(c, _told(v)) for c, v in rung]
    assert promote_pareto(trials, k, ("maximize", "minimize")) == kept


def test_successive_halving_keeps_feasible_configurations_first():
    rung = [(0, _told((0.99, 1), False, (5.0,))), (1, _told((0.5, 1), True, (-1.0,))),
            (2, _told((0.9, 1), False, (1.0,)))]  # fmt: skip
    assert promote_pareto(rung, 2, ("maximize", "minimize")) == [1, 2]


def test_sha_promotes_by_non_dominated_sorting():
    from hpfw.search import create_strategy

    strategy = create_strategy("sha", SPACE, seed=0, min_budget=1, max_budget=8, eta=2)
    strategy.set_objectives(tuple(TWO.values()))
    first = strategy.ask(16)
    assert {t.info["rung"] for t in first} == {0}
    for trial in first:
        values = two(trial.params)
        trial.values = (values["f1"], values["f2"])
        trial.state = TrialState.complete
        strategy.tell(trial, values["f1"])
    promoted = sorted(t.info["config"] for t in strategy.ask(16))
    k = len(promoted)
    expected = promote_pareto([(t.info["config"], t) for t in first], k, tuple(TWO.values()))
    # Not the 4 best by f1 alone: the front's trade-offs go on.
    by_f1 = sorted(sorted(first, key=lambda t: t.value)[:k], key=lambda t: t.info["config"])
    assert promoted == expected != [t.info["config"] for t in by_f1]
