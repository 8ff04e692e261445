"""Pruners with several objectives: ASHA by non-dominated sorting, the median by domination,
and every objective reported per step (from a Python loop and from hpfw's trainer)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import hpfw
from hpfw.pruning.channel import objective_values
from hpfw.pruning.pruners import ASHAPruner, Curve, HyperbandPruner, MedianPruner, make_pruner
from tests.helpers import journal, run_cli

# Accuracy up, parameters down: the first is reported as the value, the second as a metric.
OBJECTIVES = {"acc": "maximize", "params": "minimize"}


def curve(trial: int, points: dict[int, tuple[float, float | None]], state: str = "running"):
    """A curve from ``step -> (acc, params)``; params None: not reported at that step."""
    values = {s: acc for s, (acc, _) in points.items()}
    params = {s: p for s, (_, p) in points.items() if p is not None}
    return Curve(trial, values, state, metrics={"params": params} if params else {})


def asha(**options) -> ASHAPruner:
    return make_pruner({"name": "asha", "min_budget": 1, "eta": 2, **options},
                       direction="maximize", seed=0, objectives=OBJECTIVES)  # fmt: skip


@pytest.mark.parametrize(
    ("mine", "rivals", "pruned"),
    [
        # On the front at an extreme: kept, though the worst by accuracy alone (3 // 2 = 1 kept).
        ((0.5, 50), [(0.9, 300), (0.8, 200)], False),
        # Dominated by both rivals: the second front, pruned.
        ((0.7, 300), [(0.9, 100), (0.8, 200)], True),
        # On the front but crowded between the two extremes, which fill the 4 // 2 = 2 kept.
        ((0.7, 150), [(0.9, 300), (0.5, 50), (0.85, 250)], True),
        # The same point with fewer rivals: 3 // 2 = 1 kept, and ties go to the asking trial.
        ((0.7, 150), [(0.9, 300)], False),
        # Equal to a rival: neither dominates, the asking trial goes first.
        ((0.8, 200), [(0.8, 200)], False),
        # A NaN in any objective: it diverged.
        ((0.9, math.nan), [(0.5, 500)], True),
        # Only the first objective reported (a number): compared on accuracy alone.
        ((0.5, None), [(0.9, 300), (0.8, 200)], True),
        ((0.95, None), [(0.9, 300), (0.8, 200)], False),
        # A rival that lacks an objective the trial reported does not compete with it.
        ((0.5, 50), [(0.9, None), (0.8, None)], False),
    ],
)
def test_asha_keeps_the_best_by_non_dominated_sorting(mine, rivals, pruned) -> None:
    others = [curve(k + 1, {1: r}) for k, r in enumerate(rivals)]
    assert asha().prune(curve(0, {1: mine}), lambda: others, lambda: []) is pruned


def test_asha_with_one_objective_is_unchanged() -> None:
    """make_pruner with one objective builds the one-value pruner: metrics play no part."""
    one = make_pruner({"name": "asha", "min_budget": 1, "eta": 2}, direction="maximize",
                      seed=0, objectives={"acc": "maximize"})  # fmt: skip
    assert not one.multi and one == ASHAPruner(direction="maximize", min_budget=1, eta=2)
    others = [curve(1, {1: (0.9, 300)}), curve(2, {1: (0.8, 200)})]
    assert one.prune(curve(0, {1: (0.5, 50)}), lambda: others, lambda: [])


def test_asha_checks_each_rung_on_vectors() -> None:
    pruner = asha(max_budget=8)
    rivals = [curve(k, {1: (0.9, 100), 2: (0.9, 100), 4: (0.9, 100)}) for k in (1, 2, 3)]
    # Passes rung 1 (step 1, on the front), then is dominated at rung 2 (step 2).
    mine = curve(0, {1: (0.95, 500), 2: (0.85, 500)})
    assert not pruner.prune(curve(0, {1: (0.95, 500)}), lambda: rivals, lambda: [])
    assert pruner.prune(mine, lambda: rivals, lambda: [])


def test_hyperband_brackets_compare_vectors() -> None:
    pruner = make_pruner({"name": "hyperband", "min_budget": 1, "max_budget": 9, "eta": 3},
                         direction="maximize", seed=0, objectives=OBJECTIVES)  # fmt: skip
    assert isinstance(pruner, HyperbandPruner)
    assert all(b.objectives == ("acc", "params") for b in pruner._brackets)
    bracket = pruner.bracket(0)
    peers = [k for k in range(1, 200) if pruner.bracket(k) == bracket][:2]
    first = pruner._brackets[bracket].rung_step(0)
    rivals = [curve(peers[0], {first: (0.9, 300)}), curve(peers[1], {first: (0.8, 200)})]
    # Worst by accuracy, best by params: on the front's extreme, so it goes on.
    assert not pruner.prune(curve(0, {first: (0.5, 50)}), lambda: rivals, lambda: [])
    assert pruner.prune(curve(0, {first: (0.5, 400)}), lambda: rivals, lambda: [])


DONE = [curve(k, {1: (0.5, p), 2: (acc, p)}, "complete")
        for k, (acc, p) in enumerate([(0.9, 100), (0.8, 200), (0.7, 300)])]  # fmt: skip


@pytest.mark.parametrize(
    ("points", "pruned"),
    [
        # The completed trials' median at step 2 is (0.8, 200).
        ({1: (0.6, 250), 2: (0.75, 250)}, True),  # worse in both: dominated by the median
        ({1: (0.6, 150), 2: (0.75, 150)}, False),  # fewer parameters: a trade-off, kept
        ({1: (0.6, 200), 2: (0.8, 200)}, False),  # equal to the median: not dominated
        ({1: (0.85, 250), 2: (0.75, 250)}, False),  # its best accuracy so far (0.85) counts
        ({1: (0.6, 250), 2: (0.75, None)}, True),  # params not reported at 2: accuracy alone
        ({1: (math.nan, 250), 2: (math.nan, 250)}, True),  # only NaN so far: diverged
    ],
)
def test_the_median_rule_prunes_what_the_median_dominates(points, pruned) -> None:
    pruner = make_pruner({"name": "median", "n_startup_trials": 3}, direction="maximize",
                         seed=0, objectives=OBJECTIVES)  # fmt: skip
    assert isinstance(pruner, MedianPruner) and pruner.multi
    assert pruner.prune(curve(9, points), lambda: DONE, lambda: DONE) is pruned


def test_every_objective_in_one_report() -> None:
    sweep = {"acc": "maximize", "params": "minimize", "seconds": "minimize"}
    assert objective_values({"params": 5, "acc": 0.5}, {"loss": 1.0}, sweep) == (
        0.5,
        {"loss": 1.0, "params": 5.0},
    )
    assert objective_values([0.5, 5, 2], {}, sweep) == (0.5, {"params": 5.0, "seconds": 2.0})
    with pytest.raises(ValueError, match="must include the first objective 'acc'"):
        objective_values({"params": 5}, {}, sweep)
    with pytest.raises(ValueError, match="got 2 values for 3 objective"):
        objective_values([0.5, 5], {}, sweep)
    with pytest.raises(TypeError, match="value must hold numbers"):
        hpfw.report(1, {"acc": "high"})
    hpfw.report(1, {"acc": 0.5, "params": 5})  # outside a sweep: checked, then nothing


def test_the_trainer_reports_every_objective_it_has_per_epoch() -> None:
    from hpfw.trainer.monitor import EpochReporter

    class Channel:
        def report(self, step, value, metrics=None):
            self.reported = (step, value, metrics)

    channel = Channel()
    reporter = EpochReporter(channel, "val_accuracy", ("val_accuracy", "params"), {"params": 10.0})
    reporter.report(2, {"train_loss": math.nan, "val_loss": 0.3, "val_accuracy": 0.9})
    # Every number by name (the channel splits off the first objective); a NaN non-objective
    # is dropped, as the one-objective reporter drops it.
    assert channel.reported == (2, {"params": 10.0, "val_loss": 0.3, "val_accuracy": 0.9}, None)


# Six trials, run one after another in this order: a, b, c are the Pareto front of
# (f1 minimize, f2 maximize); d, e, f are each dominated by one of them.
POINTS = {
    "a": (0.1, 0.1), "b": (0.5, 0.5), "c": (0.9, 0.9),
    "d": (0.6, 0.3), "e": (0.95, 0.6), "f": (0.3, 0.05),
}  # fmt: skip


def asha_grid_sweep(objective: Any, directory: Path) -> Any:
    """Every point of POINTS once, minimising f1 and maximising f2, under ASHA (eta 2)."""
    return hpfw.sweep(objective, {"point": hpfw.Categorical(list(POINTS))}, strategy="grid",
                      objectives={"f1": "minimize", "f2": "maximize"}, directory=directory,
                      pruner={"name": "asha", "min_budget": 1, "eta": 2, "max_budget": 4},
                      verbose=False)  # fmt: skip


def learning(params: dict) -> dict[str, float]:
    f1, f2 = POINTS[params["point"]]
    for step in range(1, 5):
        # Both improve with steps by the same amount for every trial: dominance holds throughout.
        hpfw.report(step, {"f1": f1 + 0.1 / step, "f2": f2 - 0.1 / step})
        if hpfw.should_prune():
            raise hpfw.TrialPruned()
    return {"f1": f1, "f2": f2}


def test_a_python_sweep_with_two_objectives_prunes_the_dominated(tmp_path: Path) -> None:
    result = asha_grid_sweep(learning, tmp_path)
    states = {t.params["point"]: t.state for t in result.trials}
    assert states == {"a": "complete", "b": "complete", "c": "complete",
                      "d": "pruned", "e": "pruned", "f": "pruned"}  # fmt: skip
    assert sorted(t.params["point"] for t in result.front) == ["a", "b", "c"]
    _, records = journal(tmp_path)
    for record in records.values():
        # The first objective is the curve; the second is kept per step beside it.
        steps = [s for s, _ in record["intermediate"]]
        assert [s for s, _ in record["intermediate_metrics"]["f2"]] == steps
        assert len(steps) == (4 if record["state"] == "complete" else 1)


def scalar_loop(params: dict) -> dict[str, float]:
    f1, f2 = POINTS[params["point"]]
    for step in range(1, 5):
        hpfw.report(step, f1 + 0.1 / step)  # a loop written for one objective
        if hpfw.should_prune():
            raise hpfw.TrialPruned()
    return {"f1": f1, "f2": f2}


def test_a_scalar_report_in_a_two_objective_sweep_prunes_on_the_first(tmp_path: Path) -> None:
    result = asha_grid_sweep(scalar_loop, tmp_path)
    steps = {t.params["point"]: len(t.intermediate) for t in result.trials}
    # f1 alone decides (a 0.1, b 0.5, c 0.9, d 0.6, e 0.95, f 0.3): at step 1 b is not the
    # one kept of two, nor c of three, d or e of the best two; f is second of six (3 kept) but
    # not the one of two at step 2. So b and c go too, though on the front of (f1, f2).
    assert steps == {"a": 4, "b": 1, "c": 1, "d": 1, "e": 1, "f": 2}
    assert [t.state for t in result.trials].count("pruned") == 5


@pytest.mark.slow
def test_cli_digits_prunes_on_accuracy_and_parameters(tmp_path: Path) -> None:
    """hpfw's trainer reports val_accuracy and params every epoch; ASHA compares both."""
    out = tmp_path / "s"
    result = run_cli("-m", "hydra/sweeper=grid", "trainer.epochs=3",
                     "hydra.sweeper.objectives={val_accuracy:maximize,params:minimize}",
                     "hydra.sweeper.pruner={name: asha, eta: 2}",
                     "model.hidden_dim=choice(64,8)", "optimizer.lr=choice(0.05,0.0001)",
                     f"hydra.sweep.dir={out}", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, records = journal(out)
    assert header["pruner"]["name"] == "asha" and header["pruner"]["max_budget"] == 3
    for record in records.values():
        params = record["metrics"]["params"]
        reported = record["intermediate_metrics"]["params"]
        assert reported and all(p == params for _, p in reported)
        assert len(reported) == (3 if record["state"] == "complete" else 1)
    by_point = {(r["params"]["model.hidden_dim"], r["params"]["optimizer.lr"]): r["state"]
                for r in records.values()}  # fmt: skip
    # Grid order: (64, 0.05), (64, 1e-4), (8, 0.05), (8, 1e-4). The first goes on alone; the
    # second is dominated by it at epoch 1 (same size, worse accuracy); the third has fewer
    # parameters (the front's other end); the fourth is dominated by the third.
    assert by_point == {(64, 0.05): "complete", (64, 0.0001): "pruned",
                        (8, 0.05): "complete", (8, 0.0001): "pruned"}  # fmt: skip
