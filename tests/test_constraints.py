"""hydra.sweeper.constraints: the parser (a table, bad input included) and feasibility."""

from __future__ import annotations

import math

import pytest

from hpfw.sweeper.constraints import ConstraintError, parse, parse_all


@pytest.mark.parametrize(
    ("text", "metric", "op", "bound"),
    [
        ("params <= 1e5", "params", "<=", 1e5),
        ("train_seconds<30", "train_seconds", "<", 30.0),
        ("  val_accuracy >= 0.9 ", "val_accuracy", ">=", 0.9),
        ("gen_tv > -2.5E-3", "gen_tv", ">", -2.5e-3),
        ("flops <= .5", "flops", "<=", 0.5),
        ("test/loss < +7", "test/loss", "<", 7.0),
    ],
)
def test_parses(text, metric, op, bound):
    constraint = parse(text)
    assert (constraint.metric, constraint.op, constraint.bound) == (metric, op, bound)


@pytest.mark.parametrize(
    "text",
    [
        "params =< 1e5",  # not an operator
        "params == 3",
        "params <= ",  # no bound
        "<= 5",  # no metric
        "params <= 1e5 and x < 2",  # one condition per entry
        "params <= __import__('os')",  # never evaluated
        "params <= inf",
        "3 >= params",  # the metric comes first
        "",
        5,
    ],
)
def test_bad_constraints_are_one_line_errors(text):
    with pytest.raises(ConstraintError) as error:
        parse(text)
    message = str(error.value)
    assert "\n" not in message and "allowed" in message


def test_a_bad_entry_is_named_by_its_key():
    with pytest.raises(ConstraintError, match=r"^Invalid hydra.sweeper.constraints\[1\]: got"):
        parse_all(["params <= 10", "params =< 10"], "hydra.sweeper.constraints")
    assert [c.text for c in parse_all("x > 1", "k")] == ["x > 1"]


@pytest.mark.parametrize(
    ("text", "value", "holds", "slack"),
    [
        ("params <= 100", 100, True, 0.0),
        ("params < 100", 100, False, 0.0),  # strict: equality violates
        ("params <= 100", 130, False, 30.0),
        ("acc >= 0.9", 0.95, True, -0.05),
        ("acc > 0.9", 0.8, False, 0.1),
        ("acc >= 0.9", math.nan, False, math.nan),  # NaN meets nothing
    ],
)
def test_feasibility_and_slack(text, value, holds, slack):
    constraint = parse(text)
    assert constraint.holds(value) is holds
    assert constraint.slack(value) == pytest.approx(slack, nan_ok=True)
