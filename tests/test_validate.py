"""Every range check of the trainer's config, and the launcher's and resume's, as one clear line.

Most rows call the validation directly (it runs before anything trains); a few
go through the ``hpfw`` command to pin the exit status 2 and the one-line format.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

from hpfw.errors import ConfigError
from hpfw.trainer import validate
from tests.helpers import TOY, _run, compose_config, run_cli

# key -> overrides that break only that key (one row per check in validate_config).
BAD = {
    "optimizer.lr": ["optimizer.lr=0"],
    "optimizer.momentum": ["optimizer=sgd", "optimizer.momentum=1.0"],
    "optimizer.b1": ["optimizer.b1=1.0"],
    "optimizer.b2": ["optimizer.b2=-0.1"],
    "optimizer.eps": ["optimizer.eps=0"],
    "optimizer.warmup_fraction": ["optimizer.warmup_fraction=1.0"],
    "optimizer.grad_clip_norm": ["optimizer.grad_clip_norm=0"],
    "regularization.dropout": ["regularization.dropout=1.0"],
    "regularization.weight_decay": ["regularization.weight_decay=-0.01"],
    "regularization.label_smoothing": ["regularization.label_smoothing=1.0"],
    "trainer.epochs": ["trainer.epochs=0"],
    "trainer.batch_size": ["trainer.batch_size=0"],
    "trainer.schedule_epochs": ["trainer.epochs=4", "trainer.schedule_epochs=3"],
}
# Values no range admits: NaN and infinity fail every check that reads a number.
NOT_FINITE = [
    ("optimizer.lr", "optimizer.lr=inf"),
    ("optimizer.b2", "optimizer.b2=nan"),
    ("optimizer.eps", "optimizer.eps=inf"),
    ("optimizer.grad_clip_norm", "optimizer.grad_clip_norm=nan"),
    ("regularization.weight_decay", "regularization.weight_decay=inf"),
    ("regularization.label_smoothing", "regularization.label_smoothing=nan"),
]


def _error(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as caught:
        validate.validate_config(compose_config(overrides))
    return str(caught.value)


def _assert_names(message: str, key: str) -> None:
    assert "\n" not in message, message
    assert f"'{key}'" in message and "got " in message and "allowed: " in message, message


@pytest.mark.parametrize("key", BAD)
def test_each_range_check_names_its_key(key: str) -> None:
    _assert_names(_error(BAD[key]), key)


@pytest.mark.parametrize("key,override", NOT_FINITE, ids=[o for _, o in NOT_FINITE])
def test_non_finite_values_are_refused(key: str, override: str) -> None:
    _assert_names(_error([override]), key)


def test_the_edges_of_every_range_are_allowed() -> None:
    edges = [
        "optimizer=sgd",
        "optimizer.momentum=0",
        "optimizer.warmup_fraction=0",
        "optimizer.grad_clip_norm=1e-9",
        "regularization.dropout=0",
        "regularization.weight_decay=0",
        "regularization.label_smoothing=0",
        "trainer.epochs=1",
        "trainer.batch_size=1",
        "trainer.schedule_epochs=1",
    ]
    validate.validate_config(compose_config(edges))
    validate.validate_config(compose_config(["optimizer.b1=0", "optimizer.b2=0.999999"]))


def test_the_table_has_a_row_for_every_check() -> None:
    """A check added to validate_config without a row here fails this test."""
    tree = ast.parse(inspect.getsource(validate.validate_config))
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check":
            first = node.args[0]
            if isinstance(first, ast.Constant):
                keys.add(first.value)
            else:  # the loop over momentum, b1 and b2
                assert isinstance(first, ast.JoinedStr), ast.dump(first)
    assert keys and keys <= set(BAD), keys - set(BAD)
    assert {"optimizer.momentum", "optimizer.b1", "optimizer.b2"} <= set(BAD)


# Through the command: exit status 2, exactly one line, no traceback, nothing written.
CLI = {
    "momentum": (["optimizer=sgd", "optimizer.momentum=1.5"], "optimizer.momentum"),
    "launcher-mode": (
        ["-m", "hydra/launcher=batched", "hydra.launcher.mode=fast", "optimizer.lr=0.1,0.2"],
        "hydra.launcher.mode",
    ),
    "launcher-group-size": (
        ["-m", "hydra/launcher=batched", "hydra.launcher.max_group_size=0", "optimizer.lr=0.1,0.2"],
        "hydra.launcher.max_group_size",
    ),
}


@pytest.mark.parametrize("case", CLI)
def test_bad_values_through_the_command(case: str, tmp_path: Path) -> None:
    args, key = CLI[case]
    result = run_cli(*args, f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpfw: error: "), result.stderr
    assert f"'{key}'" in lines[0] and "allowed: " in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "sweep" / "trials.jsonl").exists()


def test_resuming_with_another_direction_is_one_line_and_keeps_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["-m", "hydra/sweeper=random", "hydra.sweeper.n_trials=2", "x=interval(0,1)"]
    args.append(f"hydra.sweep.dir={out}")
    first = _run([sys.executable, str(TOY), *args], tmp_path, None)
    assert first.returncode == 0, first.stderr
    before = (out / "trials.jsonl").read_text()
    changed = [*args, "hydra.sweeper.resume=true", "hydra.sweeper.direction=maximize"]
    result = _run([sys.executable, str(TOY), *changed], tmp_path, None)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"hpfw: error: cannot resume {out / 'trials.jsonl'}: direction changed "
        "from minimize to maximize"
    ]
    assert (out / "trials.jsonl").read_text() == before
