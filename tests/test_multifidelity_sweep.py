"""Multi-fidelity sweeps through Hydra: budgets, checkpoints, resume mid-bracket, bad settings.

The app is tests/apps/budget, a Hydra app that is not hpfw's trainer but follows
the contract of docs/early-stopping.md (it continues from the latest
checkpoint below its budget and says where it started).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, _run, journal, kill_mid_sweep, run_cli

BUDGET_APP = ROOT / "tests" / "apps" / "budget" / "app.py"
KEYS = (
    "hydra.sweeper.fidelity_key=epochs",
    "hydra.sweeper.checkpoint_key=checkpoint_dir",
    "hydra.sweeper.horizon_key=schedule_epochs",
)


def budget_app(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return _run([sys.executable, str(BUDGET_APP), "-m", *KEYS, *args], cwd, None)


def test_hyperband_sweep_promotes_and_continues_from_checkpoints(tmp_path):
    out = tmp_path / "sweep"
    result = budget_app(
        "hydra/sweeper=hyperband",
        "hydra.sweeper.max_budget=9",
        "hydra.sweeper.batch_size=100",
        "hydra.sweeper.seed=0",
        "x=interval(0,1)",
        "opt_penalty=choice(0,1)",
        "epochs=4",  # a fixed value of the fidelity key is replaced by each trial's budget
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    header, records = journal(out)
    assert header["options"]["max_budget"] == 9 and "epochs=4" not in header["fixed_overrides"]
    # Li et al.'s brackets for R = 9, eta = 3: 9@1 3@3 1@9, 5@3 1@9, 3@9.
    assert len(records) == 9 + 3 + 1 + 5 + 1 + 3
    assert all(r["state"] == "complete" for r in records.values())
    by_config: dict[int, list[dict]] = {}
    for r in records.values():
        info = r["info"]
        assert f"epochs={info['budget']}" in r["overrides"]
        assert "schedule_epochs=9" in r["overrides"]
        assert r["checkpoint"] == str(out.resolve() / "checkpoints" / str(info["config"]))
        by_config.setdefault(info["config"], []).append(r)
    promoted = 0
    for runs in by_config.values():
        runs.sort(key=lambda r: r["info"]["rung"])
        assert runs[0]["metrics"]["start_epoch"] == 0
        for before, after in itertools.pairwise(runs):
            # A promotion continues from the checkpoint its previous rung saved.
            assert after["metrics"]["start_epoch"] == before["info"]["budget"]
            assert after["params"] == before["params"]
            promoted += 1
        last = runs[-1]["info"]["budget"]
        assert (Path(runs[0]["checkpoint"]) / f"epoch_{last}.json").exists()
    assert promoted == 3 + 1 + 1
    assert header["strategy"] == "hyperband"
    for name in ("rungs.png", "trials.csv", "best.yaml"):
        assert (out / name).stat().st_size > 0
    csv_header = (out / "trials.csv").read_text().splitlines()[0].split(",")
    assert csv_header[4:8] == ["config", "bracket", "rung", "budget"]
    assert "Rungs" in result.stdout and "promoted" in result.stdout
    best_yaml = (out / "best.yaml").read_text()
    assert "epochs=9" in best_yaml and "checkpoint_dir" not in best_yaml


def test_a_rerun_of_the_best_command_matches_the_continued_trial(tmp_path):
    out = tmp_path / "sweep"
    args = ("hydra/sweeper=sha", "hydra.sweeper.max_budget=9", "hydra.sweeper.seed=1")
    result = budget_app(*args, "x=interval(0,1)", f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, records = journal(out)
    best = min((r for r in records.values() if r["info"]["budget"] == 9), key=lambda r: r["value"])
    assert best["metrics"]["start_epoch"] == 3  # it continued from rung 1's checkpoint
    fresh = _run(
        [sys.executable, str(BUDGET_APP), *best["overrides"], "hydra.run.dir=fresh"], tmp_path, None
    )
    assert fresh.returncode == 0, fresh.stderr
    # The horizon override makes a continued run equal an uninterrupted one.
    assert f"objective={best['value']!r}" in fresh.stdout


def test_resume_after_sigkill_mid_bracket(tmp_path):
    out = tmp_path / "sweep"
    args = [
        "hydra/sweeper=sha",
        "hydra.sweeper.max_budget=9",  # 9@1, 3@3, 1@9
        "hydra.sweeper.batch_size=2",
        "hydra.sweeper.seed=4",
        "x=interval(0,1)",
        f"hydra.sweep.dir={out}",
    ]
    command = [sys.executable, str(BUDGET_APP), "-m", *KEYS, *args, "sleep=0.3"]
    # Killed inside rung 0 (after 4 of its 9 trials) or in rung 1: mid-bracket either way.
    kill_mid_sweep(command, tmp_path, out, completed=4)
    _, killed = journal(out)
    assert "running" in {r["state"] for r in killed.values()}
    assert len([r for r in killed.values() if r["state"] == "complete"]) < 13

    result = budget_app(*args, "hydra.sweeper.resume=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, records = journal(out)
    clean = tmp_path / "clean"
    assert budget_app(*args[:-1], f"hydra.sweep.dir={clean}", cwd=tmp_path).returncode == 0
    _, uninterrupted = journal(clean)

    def lineage(r: dict) -> tuple:
        return (
            r["id"],
            r["params"],
            r["info"],
            r["state"],
            r["value"],
            r["metrics"]["start_epoch"],
        )

    assert [lineage(r) for r in records.values()] == [lineage(r) for r in uninterrupted.values()]
    assert len({r["job"] for r in records.values()}) == len(records) == 13

    changed = budget_app(*args, "hydra.sweeper.resume=true", "hydra.sweeper.eta=2", cwd=tmp_path)
    assert changed.returncode == 2 and "options changed" in changed.stderr


def test_n_trials_caps_the_brackets_and_checkpoints_can_be_off(tmp_path):
    out = tmp_path / "sweep"
    result = budget_app(
        "hydra/sweeper=hyperband",
        "hydra.sweeper.max_budget=9",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.checkpoint_key=null",
        "hydra.sweeper.horizon_key=null",
        "x=interval(0,1)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, records = journal(out)
    assert len(records) == 5 and not (out / "checkpoints").exists()
    for r in records.values():
        assert r["overrides"][-1] == "epochs=1" and "checkpoint" not in r


BAD = [
    (
        ["hydra.sweeper.fidelity_key=steps"],
        "hydra.sweeper.fidelity_key: 'steps' is not in the config",
    ),
    (["hydra.sweeper.checkpoint_key=ckpt"], "or null if your app has none"),
    (["epochs=range(1,4)"], "'epochs' is hydra.sweeper.fidelity_key"),
    (["hydra.sweeper.eta=1"], "eta must be an integer >= 2, got 1"),
    (["hydra.sweeper.max_budget=0"], "max_budget must be an integer >= min_budget"),
    (["hydra.sweeper.proposal=tpe"], "proposal must be one of random, bayes"),
]


@pytest.mark.parametrize("args,expected", BAD, ids=[a[0] for a, _ in BAD])
def test_bad_multi_fidelity_settings_fail_with_one_line(args, expected, tmp_path):
    result = budget_app(
        "hydra/sweeper=hyperband", "x=interval(0,1)", *args, f"hydra.sweep.dir={tmp_path / 's'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "s" / "trials.jsonl").exists()


def test_n_trials_null_needs_a_strategy_that_ends(tmp_path):
    args = ["-m", "hydra/sweeper=random", "hydra.sweeper.n_trials=null", "x=interval(0,1)"]
    result = _run([sys.executable, str(BUDGET_APP), *args], tmp_path, None)
    assert result.returncode == 2 and "does not end by itself" in result.stderr


# --- hpfw's trainer on digits -------------------------------------------------------------


DIGITS_SWEEP = (
    "-m",
    "hydra.sweeper.max_budget=2",
    "hydra.sweeper.eta=2",
    "hydra.sweeper.seed=0",
    "trainer.batch_size=128",
    "model.hidden_dim=32",
    "optimizer.lr=tag(log, interval(1e-3, 3e-2))",
)


def _digits_sweep(tmp_path: Path, *args: str) -> tuple[dict, dict[int, dict]]:
    out = tmp_path / "sweep"
    result = run_cli(*DIGITS_SWEEP, f"hydra.sweep.dir={out}", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Rungs" in result.stdout and "unbiased final estimate" in result.stdout
    return journal(out)


def _check_promotions(out: Path, records: dict[int, dict]) -> None:
    promoted = [r for r in records.values() if r["info"]["rung"] > 0]
    assert promoted
    for r in records.values():
        assert r["state"] == "complete"
        assert "trainer.schedule_epochs=2" in r["overrides"]
        metrics = json.loads((out / str(r["job"]) / "metrics.json").read_text())
        if r["info"]["rung"] > 0:
            # It restored the budget-1 checkpoint and trained epoch 2 only.
            assert r["metrics"]["start_epoch"] == 1 and metrics["epochs"]["epoch"] == [2]
        else:
            assert r["metrics"]["start_epoch"] == 0
        epochs = r["info"]["budget"]
        assert (Path(r["checkpoint"]) / f"epoch_{epochs}").is_dir()


@pytest.fixture(scope="module")
def sha_on_digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, dict]]:
    """An uninterrupted sha sweep of hpfw's trainer on digits: 2@1 epoch, then 1@2."""
    tmp_path = tmp_path_factory.mktemp("sha_digits")
    _, records = _digits_sweep(tmp_path, "hydra/sweeper=sha")
    return tmp_path / "sweep", records


def test_sha_on_digits_continues_promoted_trials_from_checkpoints(sha_on_digits):
    out, records = sha_on_digits
    assert [r["info"]["budget"] for r in records.values()] == [1, 1, 2]
    _check_promotions(out, records)
    assert (out / "rungs.png").stat().st_size > 0


@pytest.mark.slow
def test_a_killed_sha_sweep_of_the_trainer_resumes_to_the_same_lineage(sha_on_digits, tmp_path):
    """SIGKILL mid-rung (trial 0 saved its checkpoint, trial 1 runs), resume, same lineage."""
    _, uninterrupted = sha_on_digits
    out = tmp_path / "sweep"
    args = [*DIGITS_SWEEP, "hydra/sweeper=sha", f"hydra.sweep.dir={out}"]
    kill_mid_sweep([sys.executable, "-m", "hpfw", *args], tmp_path, out, completed=1)
    _, killed = journal(out)
    assert [r["state"] for r in killed.values()] == ["complete", "running"]

    result = run_cli(*args, "hydra.sweeper.resume=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    _, records = journal(out)

    def lineage(r: dict) -> tuple:
        return (r["id"], r["params"], r["info"], r["state"], r["metrics"]["start_epoch"])

    assert [lineage(r) for r in records.values()] == [lineage(r) for r in uninterrupted.values()]
    for ours, theirs in zip(records.values(), uninterrupted.values(), strict=True):
        assert ours["value"] == pytest.approx(theirs["value"], abs=1e-6)
        assert ours["metrics"]["val_loss"] == pytest.approx(theirs["metrics"]["val_loss"], rel=1e-5)
    _check_promotions(out, records)


def test_hyperband_on_digits_with_the_batched_launcher(tmp_path):
    _, records = _digits_sweep(
        tmp_path, "hydra/sweeper=hyperband", "hydra/launcher=batched", "hydra.sweeper.batch_size=8"
    )
    # Brackets 2@1 -> 1@2 and 2@2: each rung one launched batch of vmapped groups.
    assert [(r["info"]["bracket"], r["info"]["budget"]) for r in records.values()] == [
        (0, 1), (0, 1), (0, 2), (1, 2), (1, 2)
    ]  # fmt: skip
    _check_promotions(tmp_path / "sweep", records)
