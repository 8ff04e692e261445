"""sha and hyperband as strategies: the paper's rung tables, promotions, resume, BOHB."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest

from hpfw.errors import HpfwError
from hpfw.search import Float, Int, Strategy, Trial, TrialState, create_strategy
from hpfw.search.multifidelity import HyperbandStrategy, SuccessiveHalvingStrategy
from hpfw.search.multifidelity.brackets import (
    hyperband_brackets,
    promote,
    sha_brackets,
)
from hpfw.testing import CONTRACT_CHECKS

# (min_budget, max_budget, eta) -> one (sizes, budgets) pair per bracket, most aggressive first.
HYPERBAND_TABLES = {
    # Li et al. (JMLR 2018), Table 1: R = 81, eta = 3.
    (1, 81, 3): [
        ((81, 27, 9, 3, 1), (1, 3, 9, 27, 81)),
        ((34, 11, 3, 1), (3, 9, 27, 81)),
        ((15, 5, 1), (9, 27, 81)),
        ((8, 2), (27, 81)),
        ((5,), (81,)),
    ],
    (1, 27, 3): [
        ((27, 9, 3, 1), (1, 3, 9, 27)),
        ((12, 4, 1), (3, 9, 27)),
        ((6, 2), (9, 27)),
        ((4,), (27,)),
    ],
    (1, 8, 2): [
        ((8, 4, 2, 1), (1, 2, 4, 8)),
        ((6, 3, 1), (2, 4, 8)),
        ((4, 2), (4, 8)),
        ((4,), (8,)),
    ],
    # max / min not a power of eta: budgets count down from the maximum.
    (1, 20, 3): [((9, 3, 1), (2, 7, 20)), ((5, 1), (7, 20)), ((3,), (20,))],
    (5, 5, 3): [((1,), (5,))],
}


@pytest.mark.parametrize("settings", list(HYPERBAND_TABLES), ids=str)
def test_hyperband_brackets_follow_the_paper(settings) -> None:
    brackets = hyperband_brackets(*settings)
    assert [(b.sizes, b.budgets) for b in brackets] == HYPERBAND_TABLES[settings]
    assert [b.s for b in brackets] == list(range(len(brackets) - 1, -1, -1))


def test_sha_is_one_bracket_down_to_a_single_configuration() -> None:
    [bracket] = sha_brackets(1, 81, 3)
    assert bracket.sizes == (81, 27, 9, 3, 1) and bracket.budgets == (1, 3, 9, 27, 81)
    [bracket] = sha_brackets(2, 16, 2, n_configs=10)
    assert bracket.sizes == (10, 5, 2, 1) and bracket.budgets == (2, 4, 8, 16)
    assert len(sha_brackets(1, 9, 3, iterations=3)) == 3


def test_epochs_count_only_what_continued_trials_add() -> None:
    [bracket] = sha_brackets(1, 27, 3)  # 27@1, 9@3, 3@9, 1@27
    assert bracket.epochs == 27 * 1 + 9 * 2 + 3 * 6 + 1 * 18
    assert bracket.n_trials == 27 + 9 + 3 + 1


def test_promote_takes_the_best_and_never_a_failure() -> None:
    results = [(0, 0.5), (1, None), (2, 0.1), (3, 0.1), (4, 0.9)]
    assert promote(results, 2, lambda v: v) == [2, 3]  # lowest first
    assert promote(results, 2, lambda v: -v) == [0, 4]  # maximising
    assert promote(results, 10, lambda v: v) == [0, 2, 3, 4]  # the failure stays out
    assert promote([(5, 0.2), (3, 0.2)], 1, lambda v: v) == [3]  # ties: lower config id


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"eta": 1}, "eta must be an integer >= 2"),
        ({"min_budget": 0}, "min_budget must be an integer >= 1"),
        ({"max_budget": 3, "min_budget": 9}, "max_budget must be an integer >= min_budget"),
        ({"iterations": 0}, "iterations must be an integer >= 1"),
        ({"proposal": "tpe"}, "proposal must be one of random, bayes"),
        ({"random_fraction": 2.0}, "random_fraction must be in [0, 1]"),
        ({"n_configs": 0}, "n_configs must be an integer >= 1"),
    ],
)
def test_bad_settings_name_the_key(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(HpfwError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        create_strategy("sha", {"x": Float(0.0, 1.0)}, **kwargs)


def test_rounded_budgets_stay_distinct() -> None:
    for max_budget in range(1, 200):
        for eta in (2, 3, 4):
            for bracket in hyperband_brackets(1, max_budget, eta):
                assert len(set(bracket.budgets)) == len(bracket.budgets)
                assert bracket.budgets[-1] == max_budget and bracket.budgets[0] >= 1


# --- running a strategy -------------------------------------------------------------------

SPACE = {"x": Float(0.0, 1.0), "n": Int(1, 4)}


def loss(params: dict[str, Any], budget: int) -> float:
    """A learning curve: falls with the budget towards a floor set by the params."""
    floor = (params["x"] - 0.7) ** 2 + 0.05 * params["n"]
    return floor + 1.0 / budget


def drive(strategy: Strategy, batch: int, stop_after: int | None = None) -> list[Trial]:
    """Asks in batches of ``batch`` and tells each batch; returns the trials told, in order."""
    told: list[Trial] = []
    while stop_after is None or len(told) < stop_after:
        trials = strategy.ask(batch)
        if not trials:
            break
        assert len({t.info["budget"] for t in trials}) == 1, "a batch mixes budgets"
        for trial in trials:
            strategy.tell(trial, loss(trial.params, trial.info["budget"]))
            told.append(trial)
    return told


def plan(trials: list[Trial]) -> list[tuple[Any, ...]]:
    return [(t.id, t.info["config"], t.info["rung"], t.info["budget"], t.params) for t in trials]


def test_hyperband_runs_every_rung_of_the_table_and_promotes_the_best() -> None:
    strategy = HyperbandStrategy(SPACE, seed=0, max_budget=27)
    told = drive(strategy, batch=100)
    assert strategy.max_trials == len(told) == 27 + 9 + 3 + 1 + 12 + 4 + 1 + 6 + 2 + 4
    rungs: dict[tuple[int, int], list[Trial]] = {}
    for trial in told:
        rungs.setdefault((trial.info["bracket"], trial.info["rung"]), []).append(trial)
    sizes = {k: len(v) for k, v in rungs.items()}
    assert sizes == {
        (0, 0): 27, (0, 1): 9, (0, 2): 3, (0, 3): 1,
        (1, 0): 12, (1, 1): 4, (1, 2): 1,
        (2, 0): 6, (2, 1): 2,
        (3, 0): 4,
    }  # fmt: skip
    for (j, i), trials in rungs.items():
        if i == 0:
            continue
        below = sorted(rungs[(j, i - 1)], key=lambda t: (t.value, t.info["config"]))
        kept = {t.info["config"] for t in below[: len(trials)]}
        assert {t.info["config"] for t in trials} == kept
        for trial in trials:  # a promotion trains the same params further
            [parent] = [t for t in below if t.info["config"] == trial.info["config"]]
            assert trial.params == parent.params and trial.id > parent.id
    best = strategy.best
    assert best.info["budget"] == 27  # the incumbent comes from the full budget
    assert best.value == min(t.value for t in told if t.info["budget"] == 27)
    assert strategy.ask(5) == []  # done


@pytest.mark.parametrize("batch", [1, 4, 7])
def test_batching_does_not_change_the_trials(batch: int) -> None:
    whole = plan(drive(HyperbandStrategy(SPACE, seed=3, max_budget=9), batch=1000))
    assert plan(drive(HyperbandStrategy(SPACE, seed=3, max_budget=9), batch=batch)) == whole


def test_a_rung_waits_for_every_result_before_promoting() -> None:
    strategy = SuccessiveHalvingStrategy(SPACE, seed=0, max_budget=9)  # 9@1, 3@3, 1@9
    first = strategy.ask(9)
    for trial in first[:-1]:
        strategy.tell(trial, 1.0)
    assert strategy.ask(3) == []  # one result missing: nothing to promote yet
    strategy.tell(first[-1], 0.5)
    promoted = strategy.ask(3)
    assert [t.info["budget"] for t in promoted] == [3, 3, 3]
    assert first[-1].info["config"] in {t.info["config"] for t in promoted}


def test_failed_trials_are_not_promoted_and_an_empty_rung_ends_the_bracket() -> None:
    strategy = SuccessiveHalvingStrategy(SPACE, seed=0, max_budget=9, iterations=2)
    rung0 = strategy.ask(9)
    for k, trial in enumerate(rung0):
        trial.state = TrialState.failed if k != 4 else TrialState.running
        strategy.tell(trial, None if k != 4 else 0.3)
    [promoted] = strategy.ask(9)  # three planned, one survivor
    assert promoted.info["config"] == rung0[4].info["config"] and promoted.info["rung"] == 1
    promoted.state = TrialState.diverged
    strategy.tell(promoted, math.nan)
    nxt = strategy.ask(9)  # nothing reaches rung 2: the second bracket starts
    assert {t.info["bracket"] for t in nxt} == {1} and len(nxt) == 9


@pytest.mark.parametrize("cut", [5, 9, 26, 40, 49])
@pytest.mark.parametrize("pending", [0, 2])
def test_resume_mid_bracket_continues_exactly(cut: int, pending: int) -> None:
    """A fresh strategy told the finished trials (and the ones to rerun) carries on identically."""
    whole = drive(HyperbandStrategy(SPACE, seed=5, max_budget=27), batch=4)
    first = HyperbandStrategy(SPACE, seed=5, max_budget=27)
    done = drive(first, batch=4, stop_after=cut)
    running = first.ask(pending) if pending else []  # launched when the sweep was killed

    resumed = HyperbandStrategy(SPACE, seed=5, max_budget=27)
    for trial in done:  # as the sweeper replays the journal: copies, with their info
        copy = Trial(
            trial.id, dict(trial.params), trial.inactive, trial.state, info=dict(trial.info)
        )
        resumed.tell(copy, trial.value)
    reruns = [Trial(t.id, dict(t.params), info=dict(t.info)) for t in running]
    resumed.will_rerun(reruns)
    for trial in reruns:
        resumed.tell(trial, loss(trial.params, trial.info["budget"]))
    rest = drive(resumed, batch=4)
    assert plan(done + reruns + rest) == plan(whole)


def test_resume_with_other_budgets_is_refused() -> None:
    done = drive(HyperbandStrategy(SPACE, seed=0, max_budget=27), batch=30, stop_after=30)
    other = HyperbandStrategy(SPACE, seed=0, max_budget=9)
    with pytest.raises(HpfwError, match="same min_budget, max_budget, eta"):
        for trial in done:
            other.tell(Trial(trial.id, trial.params, info=dict(trial.info)), trial.value)


# --- BOHB: proposal=bayes -------------------------------------------------------------------


def test_bohb_proposes_from_the_model_once_a_budget_has_enough_results() -> None:
    strategy = HyperbandStrategy(
        SPACE, seed=1, max_budget=9, iterations=2, proposal="bayes", min_points=5
    )
    told = drive(strategy, batch=100)
    first = [t for t in told if t.info["bracket"] == 0]
    assert {t.info["source"] for t in first if t.info["rung"] == 0} == {"random"}
    later = [t for t in told if t.info["bracket"] > 0 and t.info["rung"] == 0]
    modelled = [t for t in later if t.info["source"] == "model"]
    randoms = [t for t in later if t.info["source"] == "random"]
    assert modelled and randoms  # a third stays random, as in BOHB
    # The model has learnt where the floor is lowest (x = 0.7, n = 1).
    distance = [abs(t.params["x"] - 0.7) + (t.params["n"] - 1) / 3 for t in modelled]
    rand_distance = [abs(t.params["x"] - 0.7) + (t.params["n"] - 1) / 3 for t in first]
    assert sum(distance) / len(distance) < sum(rand_distance) / len(rand_distance)


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract_of_bohb_and_small_sha(check) -> None:
    check(functools.partial(HyperbandStrategy, proposal="bayes", min_points=4))
    check(functools.partial(SuccessiveHalvingStrategy, max_budget=4, eta=2, n_configs=24))


# --- reports ------------------------------------------------------------------------------


def _record(i: int, config: int, rung: int, budget: int, value: float | None) -> dict[str, Any]:
    info = {"config": config, "bracket": 0, "rung": rung, "budget": budget}
    state = "complete" if value is not None else "diverged"
    return {"id": i, "job": i, "state": state, "value": value, "params": {"x": 0.1}, "info": info}


def test_reports_rank_by_budget_and_count_promotions(tmp_path) -> None:
    from hpfw.sweeper import reports as report
    from hpfw.sweeper import rungs

    header = {"direction": "maximize", "space": {}}
    trials = [
        _record(0, 0, 0, 1, 0.90),
        _record(1, 1, 0, 1, 0.99),  # best value, but after one epoch only
        _record(2, 2, 0, 1, None),
        _record(3, 1, 1, 3, 0.95),
    ]
    assert report.best_trial(header, trials)["id"] == 3  # the largest budget wins
    rows = rungs.rung_rows(header, trials)
    assert [(r["rung"], r["budget"], r["trials"], r["complete"], r["promoted"]) for r in rows] == [
        (0, 1, 3, 2, 1),
        (1, 3, 1, 1, 0),
    ]
    assert rows[0]["best"] == 0.99
    report.write_reports(tmp_path, header, trials)
    assert (tmp_path / "rungs.png").stat().st_size > 0
    assert "config,bracket,rung,budget" in (tmp_path / "trials.csv").read_text().splitlines()[0]
