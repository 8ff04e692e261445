"""Pruners (the same decisions as Optuna's), the report/should_prune API, and pruned trials."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest

import hpfw
from hpfw.pruning.api import channel_for, trial_context
from hpfw.pruning.pruners import (
    ASHAPruner,
    Curve,
    HyperbandPruner,
    MedianPruner,
    PrunerError,
    pruner_settings,
)
from hpfw.sweeper.settings import SweepError, SweepSettings

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")


def _frozen(study, trial):
    return study._storage.get_trial(trial._trial_id)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_median_pruner_decides_as_optunas(direction: str) -> None:
    rng = np.random.default_rng(0)
    cases = 0
    for case in range(150):
        options = {
            "n_startup_trials": int(rng.integers(0, 4)),
            "n_warmup_steps": int(rng.integers(0, 4)),
            "interval_steps": int(rng.integers(1, 4)),
            "n_min_trials": int(rng.integers(1, 3)),
        }
        study = optuna.create_study(direction=direction)
        done = []
        for k in range(int(rng.integers(0, 6))):
            steps = sorted(rng.choice(np.arange(8), size=int(rng.integers(1, 8)), replace=False))
            values = {int(s): float(rng.normal()) for s in steps}
            study.add_trial(optuna.trial.create_trial(value=0.0, intermediate_values=values))
            done.append(Curve(k, values, "complete"))
        running = study.ask()
        curve = Curve(99, {})
        for step in sorted(rng.choice(np.arange(8), size=int(rng.integers(1, 6)), replace=False)):
            value = float(rng.normal()) if rng.random() > 0.05 else math.nan
            running.report(value, int(step))
            curve.values[int(step)] = value
        theirs = optuna.pruners.MedianPruner(**options).prune(study, _frozen(study, running))
        ours = MedianPruner(direction=direction, **options).prune(
            curve, lambda done=done: done, lambda done=done: done
        )
        assert ours == theirs, (case, options, curve.values, [c.values for c in done])
        cases += theirs
    assert 5 <= cases < 150  # the table exercises both answers


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("eta, bootstrap", [(3, 0), (2, 1)])
def test_asha_prunes_where_optunas_successive_halving_does(
    direction: str, eta: int, bootstrap: int
) -> None:
    """Trials one after another, each reporting every step: the same steps are pruned."""
    rng = np.random.default_rng(eta)
    study = optuna.create_study(
        direction=direction,
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=eta, bootstrap_count=bootstrap
        ),
    )
    ours = ASHAPruner(direction=direction, min_budget=1, eta=eta, bootstrap_count=bootstrap)
    seen: list[Curve] = []
    stopped = []
    for k in range(30):
        quality = rng.normal()
        trial, curve = study.ask(), Curve(k, {})
        theirs_at = ours_at = None
        for step in range(1, 28):
            value = quality + 1.0 / step + 0.1 * rng.normal()
            trial.report(value, step)
            curve.values[step] = value
            if ours_at is None and ours.prune(curve, lambda: seen, lambda: seen):
                ours_at = step
            if trial.should_prune():
                theirs_at = step
                break
        if theirs_at:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
        assert ours_at == theirs_at, (k, ours_at, theirs_at)
        seen.append(curve)
        stopped.append(theirs_at)
    assert any(stopped) and max(s or 28 for s in stopped) > 3  # cut early, and late


def test_asha_never_revisits_a_rung_it_passed() -> None:
    """Promoted early (few rivals yet), a trial is not pruned at that rung later."""
    asha = ASHAPruner(direction="minimize", min_budget=1, eta=3)
    mine = Curve(0, {1: 5.0})
    assert not asha.prune(mine, lambda: [], lambda: [])  # alone: promoted
    rivals = [Curve(k, {1: 1.0, 2: 1.0}) for k in range(1, 9)]
    mine.values[2] = 4.0
    assert not asha.prune(mine, lambda: rivals, lambda: [])  # step 2: no rung to check
    mine.values[3] = 3.0  # rung 1 (step 3): the rivals never reached it, so it goes on
    assert not asha.prune(mine, lambda: rivals, lambda: [])
    late = Curve(9, {1: 5.0})
    assert asha.prune(late, lambda: [*rivals, mine], lambda: [])  # the same value, now cut


def test_asha_stops_checking_at_max_budget() -> None:
    asha = ASHAPruner(direction="minimize", min_budget=1, eta=3, max_budget=9)
    rivals = [Curve(k, {s: 0.0 for s in range(1, 10)}) for k in range(9)]
    mine = Curve(99, {1: 0.0, 3: 0.0, 9: 100.0})
    mine.rungs_passed = 2  # passed rungs 1 and 3; 9 is the end, not a rung
    assert not asha.prune(mine, lambda: rivals, lambda: [])


def test_hyperband_brackets_are_seeded_weighted_and_separate() -> None:
    pruner = HyperbandPruner(direction="minimize", seed=1, min_budget=1, max_budget=27, eta=3)
    assert pruner.n_brackets == 4
    brackets = [pruner.bracket(i) for i in range(2000)]
    assert brackets == [pruner.bracket(i) for i in range(2000)]  # deterministic
    shares = np.bincount(brackets, minlength=4) / len(brackets)
    # Optuna's budgets for 4 brackets of eta 3: ceil(4*27/4), ceil(4*9/3), ceil(4*3/2), 4.
    assert shares == pytest.approx(np.array([27, 12, 6, 4]) / 49, abs=0.04)
    # Bracket 3 (min_early_stopping_rate 3) only checks at step 27 = max_budget: never prunes.
    last = next(i for i in range(100) if pruner.bracket(i) == 3)
    assert not pruner.prune(Curve(last, {s: 1e9 for s in range(1, 27)}), lambda: [], lambda: [])
    # A rival in another bracket does not compete.
    first = [i for i in range(100) if pruner.bracket(i) == 0]
    other = next(i for i in range(100) if pruner.bracket(i) != 0)
    rival = [Curve(other, {1: -1e9})] * 5
    assert not pruner.prune(Curve(first[0], {1: 0.0}), lambda: rival, lambda: [])


@pytest.mark.parametrize(
    "value, message",
    [
        ("bogus", "got 'bogus'; allowed: median, asha, hyperband or null"),
        ({"name": "asha", "eta": 1}, "asha: eta must be an integer >= 2, got 1"),
        ({"name": "median", "warmup": 3}, "median has no option warmup; its options:"),
        (3, "got 3; allowed: null, a name, or {name: ..., option: value}"),
    ],
)
def test_a_bad_pruner_setting_is_one_line(value, message: str) -> None:
    with pytest.raises(SweepError) as raised:
        SweepSettings(pruner=value).resolve()
    text = str(raised.value)
    assert text.startswith("Invalid hydra.sweeper.pruner: ") and message in text
    assert "\n" not in text


def test_settings_fill_in_every_default() -> None:
    assert pruner_settings("median") == {
        "name": "median",
        "n_startup_trials": 5,
        "n_warmup_steps": 0,
        "interval_steps": 1,
        "n_min_trials": 1,
    }
    assert pruner_settings("hyperband", max_budget=27)["max_budget"] == 27
    with pytest.raises(PrunerError, match="hyperband needs max_budget"):
        pruner_settings("hyperband")
    with pytest.raises(SweepError, match="concurrent_trials: got 0"):
        SweepSettings(concurrent_trials=0).resolve()


def test_report_and_should_prune_do_nothing_outside_a_sweep(tmp_path: Path) -> None:
    hpfw.report(1, 0.5, train_loss=0.1)
    assert hpfw.should_prune() is False
    # A channel whose directory holds no hpfw journal (another sweeper's job) is inert too.
    channel = channel_for(tmp_path, 0)
    with trial_context(channel):
        hpfw.report(1, 0.5)
        assert hpfw.should_prune() is False
    assert not (tmp_path / "intermediate").exists()
    with pytest.raises(TypeError, match="step must be an integer"):
        hpfw.report(1.5, 0.5)
    with pytest.raises(TypeError, match="value must be a number"):
        hpfw.report(1, "high")


def _learning(params: dict, trial) -> float:
    """A learning curve that is worse at every step the further x is from 0.3."""
    loss = math.nan
    for step in range(1, 11):
        loss = (params["x"] - 0.3) ** 2 + 1.0 / step
        hpfw.report(step, loss)  # the module-level call finds the trial in threads and processes
        if trial.should_prune():
            raise hpfw.TrialPruned()
    return loss


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_a_python_sweep_prunes_and_keeps_the_curves(tmp_path: Path, backend: str) -> None:
    result = hpfw.sweep(
        _learning,
        {"x": hpfw.Float(0.0, 1.0)},
        strategy="random",
        n_trials=12,
        seed=3,
        n_jobs=2,
        backend=backend,
        directory=tmp_path,
        pruner={"name": "median", "n_startup_trials": 3},
        verbose=False,
    )
    states = [t.state for t in result.trials]
    assert set(states) == {"complete", "pruned"}, states
    for trial in result.trials:
        steps = [s for s, _ in trial.intermediate]
        assert steps == list(range(1, len(steps) + 1))
        if trial.state == "pruned":
            assert trial.value is None and trial.error is None and len(steps) < 10
        else:
            assert len(steps) == 10 and trial.value == pytest.approx(trial.intermediate[-1][1])
    # Pruned trials are the poor ones: each is worse at its last step than the median there.
    assert (tmp_path / "curves.png").is_file()
    assert "pruned" in repr(result)


def test_trial_handles_report_from_threads_of_one_process(tmp_path: Path) -> None:
    """Two trials side by side in threads each write their own curve."""
    barrier = threading.Barrier(2)

    def objective(params: dict, trial) -> float:
        barrier.wait(timeout=30)
        for step in range(1, 4):
            trial.report(step, params["x"] * step)
        return params["x"]

    hpfw.sweep(
        objective,
        {"x": hpfw.Categorical([1.0, 2.0])},
        strategy="grid",
        n_jobs=2,
        backend="threads",
        directory=tmp_path,
        verbose=False,
    )
    records = [json.loads(x) for x in (tmp_path / "trials.jsonl").read_text().splitlines()[1:]]
    done = {r["params"]["x"]: r["intermediate"] for r in records if r["state"] == "complete"}
    assert done == {1.0: [[1, 1.0], [2, 2.0], [3, 3.0]], 2.0: [[1, 2.0], [2, 4.0], [3, 6.0]]}


class _Channel:
    """A stand-in for a trial's channel: records reports, prunes from step ``prune_at``."""

    def __init__(self, prune_at: int | None, can_prune: bool = True) -> None:
        self.prune_at, self.can_prune, self.values = prune_at, can_prune, {}

    def report(self, step: int, value: float, metrics: dict) -> None:
        self.values[step] = value

    def should_prune(self) -> bool:
        return self.prune_at is not None and max(self.values) >= self.prune_at


@pytest.mark.parametrize("mode", ["sequential", "vmap"])
def test_the_trainer_reports_every_epoch_and_stops_when_pruned(mode: str) -> None:
    from hpfw.trainer.groups import train_many
    from tests.helpers import TINY, compose_config

    cfgs = [
        compose_config([*TINY, "trainer.epochs=4", f"optimizer.lr={lr}"]) for lr in (0.01, 0.003)
    ]
    cut, kept = _Channel(prune_at=2), _Channel(prune_at=None)
    pruned, complete = train_many(cfgs, mode=mode, channels=[cut, kept])
    assert pruned["status"] == "pruned" and pruned["pruned_epoch"] == 1
    assert sorted(cut.values) == [1, 2] and sorted(kept.values) == [1, 2, 3, 4]
    curve = pruned["epochs"]["val_accuracy"]
    assert all(v is not None for v in curve[:2]) and curve[2:] == [None, None]
    assert pruned["val_accuracy"] == pytest.approx(cut.values[2])
    assert complete["status"] == "complete"
    reported = [kept.values[e] for e in (1, 2, 3, 4)]
    assert complete["epochs"]["val_accuracy"] == pytest.approx(reported)
    # Reporting changes nothing the trial computes.
    [alone] = train_many(cfgs[1:], mode="sequential")
    assert complete["val_accuracy"] == pytest.approx(alone["val_accuracy"], abs=1e-6)


def test_without_a_pruner_the_trainer_reports_after_the_run() -> None:
    from hpfw.trainer.compiled import PROGRAMS
    from hpfw.trainer.groups import train_many
    from tests.helpers import TINY, compose_config

    channel = _Channel(prune_at=1, can_prune=False)  # it would prune, but cannot
    [metrics] = train_many([compose_config(TINY)], mode="sequential", channels=[channel])
    assert metrics["status"] == "complete"
    assert channel.values == dict(enumerate(metrics["epochs"]["val_accuracy"], start=1))
    # The program it ran has no callback (so JAX's disk cache keeps it).
    spec_keys = [key for key in PROGRAMS._programs if key[0].epochs == 3 and key[2] == 0]
    assert spec_keys and not any(key[-1] for key in spec_keys)
