"""Known configurations first (enqueue) and earlier sweeps as observations (warm_start)."""

from __future__ import annotations

import logging

import pytest

import hpfw
from hpfw.sweeper.known import OBSERVATION
from hpfw.sweeper.settings import SweepError
from tests.helpers import journal

SPACE = {"x": hpfw.Float(0.0, 1.0), "n": hpfw.Int(1, 5), "act": hpfw.Categorical(["relu", "tanh"])}


def loss(params):
    penalty = 0.1 if params.get("act") == "tanh" else 0.0
    return (params["x"] - 0.3) ** 2 + 0.01 * params.get("n", 3) + penalty


def run(directory, space=SPACE, strategy="random", n_trials=6, **kwargs):
    return hpfw.sweep(loss, space, strategy=strategy, n_trials=n_trials, seed=0,
                      directory=directory, verbose=False, **kwargs)  # fmt: skip


def test_enqueued_points_run_first_in_order(tmp_path):
    enqueue = [{"x": 0.25, "n": 2, "act": "tanh"}, {"x": 0.75}]
    run(tmp_path / "s", enqueue=enqueue)
    _, records = journal(tmp_path / "s")
    assert records[0]["params"] == enqueue[0] and records[0]["info"] == {"enqueued": 0}
    assert records[1]["params"]["x"] == 0.75 and records[1]["info"] == {"enqueued": 1}
    assert SPACE["n"].contains(records[1]["params"]["n"])  # left out: drawn from the space
    assert all("enqueued" not in records[i]["info"] for i in range(2, 6))
    assert len(records) == 6  # enqueued trials count towards n_trials


def test_enqueue_then_the_whole_grid(tmp_path):
    space = {"n": hpfw.Int(1, 3)}
    hpfw.sweep(lambda p: p["n"], space, strategy="grid", n_trials=None, directory=tmp_path / "g",
               enqueue=[{"n": 2}], verbose=False)  # fmt: skip
    _, records = journal(tmp_path / "g")
    assert [records[i]["params"]["n"] for i in sorted(records)] == [2, 1, 2, 3]


def test_enqueued_trials_resume_where_they_stopped(tmp_path):
    enqueue = [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]
    run(tmp_path / "s", n_trials=2, enqueue=enqueue)
    run(tmp_path / "s", n_trials=5, resume=True)  # the journal keeps the queue
    _, records = journal(tmp_path / "s")
    assert [records[i]["params"]["x"] for i in range(3)] == [0.1, 0.2, 0.3]
    assert [records[i]["info"].get("enqueued") for i in range(5)] == [0, 1, 2, None, None]


@pytest.mark.parametrize(
    ("enqueue", "message"),
    [
        ([{"lr": 0.1}], r"^Invalid enqueue\[0\]: lr is not a swept parameter; allowed: x, n, act"),
        ([{"x": 2.0}], r"^Invalid enqueue\[0\].x: got 2.0; allowed: a number in \[0.0, 1.0\]"),
        ([{}, {"act": "gelu"}], r"^Invalid enqueue\[1\].act: got 'gelu'; allowed: one of relu"),
        ({"x": 0.1}, r"^Invalid enqueue: got \{'x': 0.1\}; allowed: a list of"),
    ],
)
def test_bad_enqueue_is_one_line(tmp_path, enqueue, message):
    with pytest.raises(SweepError, match=message):
        run(tmp_path / "s", enqueue=enqueue)
    assert not (tmp_path / "s" / "trials.jsonl").exists()


def test_warm_start_maps_and_drops_trials(tmp_path, caplog):
    run(tmp_path / "first", n_trials=12)
    _, first = journal(tmp_path / "first")
    # x narrowed to [0, 0.5] (trials above are dropped), act no longer swept (mapped: the
    # trial's other values still hold), n an Int as before.
    space = {"x": hpfw.Float(0.0, 0.5), "n": hpfw.Int(1, 5)}
    with caplog.at_level(logging.INFO, logger="hpfw.sweeper"):
        result = run(tmp_path / "second", space=space, strategy="bayes", n_trials=3,
                     warm_start=str(tmp_path / "first"), n_initial=4)  # fmt: skip
    inside = [r for r in first.values() if r["params"]["x"] <= 0.5]
    lines = (tmp_path / "second" / "trials.jsonl").read_text().splitlines()
    import json

    observations = [json.loads(line) for line in lines if f'"{OBSERVATION}"' in line[:30]]
    assert len(observations) == len(inside) and 0 < len(inside) < 12
    assert [o["id"] for o in observations] == list(range(-1, -len(inside) - 1, -1))
    assert {o["params"]["x"] for o in observations} == {r["params"]["x"] for r in inside}
    assert all(set(o["params"]) == {"x", "n"} for o in observations)
    message = next(m for m in caplog.messages if m.startswith("warm start:"))
    assert f"{len(inside)} completed trials of 1 earlier sweep(s) are observations" in message
    assert f"({len(inside)} mapped to this space), {12 - len(inside)} dropped" in message
    assert "with x outside the new space" in message
    # Observations are not this sweep's trials: 3 trials, reports from them alone.
    assert [t.id for t in result.trials] == [0, 1, 2]
    # Observations count towards bayes's initial design: 5 >= n_initial, the model at once.
    assert all(t.info.get("source") == "gp" for t in result.trials)


def test_warm_start_drops_trials_without_a_new_parameter(tmp_path, caplog):
    run(tmp_path / "first", space={"x": hpfw.Float(0.0, 1.0)}, n_trials=4)
    with caplog.at_level(logging.INFO, logger="hpfw.sweeper"):
        run(tmp_path / "second", n_trials=2, warm_start=[str(tmp_path / "first")])
    message = next(m for m in caplog.messages if m.startswith("warm start:"))
    assert "0 completed trials" in message and "4 without the new parameter n" in message


def test_warm_start_of_a_missing_sweep_is_one_line(tmp_path):
    with pytest.raises(SweepError, match=r"^Invalid warm_start: no such directory: .*nowhere$"):
        run(tmp_path / "s", warm_start=str(tmp_path / "nowhere"))
