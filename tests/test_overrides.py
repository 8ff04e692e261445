"""The override grammar table: Hydra sweep syntax -> typed search-space values."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from hpfw.search import Categorical, Float, Int
from hpfw.search.overrides import SweepOverrideError, format_value, parse_sweep

GROUPS = {"optimizer": ["adam", "adamw", "sgd"], "model": ["cnn", "mlp", "transformer"]}


def parse(*overrides: str, params: dict[str, str] | None = None):
    return parse_sweep(overrides, params=params, group_options=lambda n: GROUPS.get(n, []))


TABLE = [
    ("lr=interval(0.001, 0.1)", Float(0.001, 0.1)),
    ("lr=tag(log, interval(1e-4, 1e-1))", Float(1e-4, 1e-1, log=True)),
    ("n=int(interval(1, 5))", Int(1, 5)),
    ("n=tag(log, int(interval(1, 64)))", Int(1, 64, log=True)),
    # Hydra's range excludes its end, like Python's: range(1,5) is 1, 2, 3, 4.
    ("n=range(1,5)", Int(1, 4)),
    ("n=range(1,10,2)", Int(1, 9, step=2)),
    ("n=range(10,0,-3)", Int(1, 10, step=3)),
    ("x=range(0.0,1.0,0.25)", Float(0.0, 0.75, step=0.25)),
    ("act=choice(relu, gelu)", Categorical(["relu", "gelu"])),
    ("n=1,2,3", Categorical([1, 2, 3])),
    ("flag=true,false", Categorical([True, False])),
    ("optimizer=sgd,adam", Categorical(["sgd", "adam"])),
    ("model=glob(*)", Categorical(["cnn", "mlp", "transformer"])),
    ("optimizer=glob(adam*)", Categorical(["adam", "adamw"])),
]


@pytest.mark.parametrize("line,expected", TABLE, ids=[t[0] for t in TABLE])
def test_grammar_table(line, expected):
    sweep = parse(line)
    (param,) = sweep.params.values()
    assert param.dist == expected
    assert param.is_group == (param.name in GROUPS)
    assert sweep.fixed == []


def test_range_excludes_its_end_like_hydra():
    (param,) = parse("n=range(1,4)").params.values()
    assert param.dist.grid() == list(range(1, 4))
    assert 4 not in param.dist.grid()


def test_fixed_overrides_pass_through_and_cli_beats_params():
    sweep = parse(
        "trainer.epochs=3",
        "+extra=1",
        "lr=interval(0.1, 0.2)",
        params={"lr": "interval(0.5, 0.9)", "wd": "tag(log, interval(1e-6, 1e-2))"},
    )
    assert sweep.fixed == ["trainer.epochs=3", "+extra=1"]
    assert sweep.params["lr"].dist == Float(0.1, 0.2)
    assert sweep.params["wd"].dist == Float(1e-6, 1e-2, log=True)


def test_appended_keys_keep_their_prefix():
    (param,) = parse("+new_key=1,2").params.values()
    assert param.key == "+new_key" and param.appends
    assert param.override(2) == "+new_key=2"


@pytest.mark.parametrize(
    "line,fragment",
    [
        ("x=interval(5,1)", "low <= high"),
        ("x=tag(log, interval(0,1))", "log-scaled"),
        ("x=range(1,1)", "empty"),
        ("x=range(3,1)", "empty"),
        ("x=choice()", "empty choice"),
        ("model=glob(zzz*)", "matches no option"),
    ],
)
def test_bad_sweeps(line, fragment):
    with pytest.raises(SweepOverrideError) as info:
        parse(line)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["abc", "1", "true", "null", "a b", "it's", 1.5, 1e-5, 3, True, None, "x,y", "/p/x.npz"],
)
def test_formatted_values_parse_back_to_themselves(value):
    parsed = OverridesParser.create().parse_override(f"k={format_value(value)}").value()
    assert parsed == value and type(parsed) is type(value)
