"""Whole sweeps through Hydra: a small user app, failures, conditional keys, resume, reports."""

from __future__ import annotations

import sys

import pytest

from tests.helpers import TOY, journal, kill_mid_sweep, run_cli, toy


def states(records: dict[int, dict]) -> list[str]:
    return [records[i]["state"] for i in sorted(records)]


def test_random_sweep_of_a_user_app(tmp_path):
    out = tmp_path / "sweep"
    result = toy(
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.batch_size=2",
        "hydra.sweeper.seed=3",
        "x=interval(0,1)",
        "n=range(1,6)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    header, records = journal(out)
    assert header["strategy"] == "random" and header["direction"] == "minimize"
    assert sorted(records) == list(range(6))
    assert states(records) == ["complete"] * 6
    for r in records.values():
        assert 0 <= r["params"]["x"] <= 1 and r["params"]["n"] in range(1, 6)
        assert r["value"] == pytest.approx(
            (r["params"]["x"] - 0.3) ** 2 + 0.01 * (r["params"]["n"] - 3) ** 2 + 0.5
        )
    for name in ("best.yaml", "trials.csv", "history.png", "params.png"):
        assert (out / name).stat().st_size > 0
    jobs = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert jobs == [str(i) for i in range(6)]
    best = min(records.values(), key=lambda r: r["value"])
    assert f"value: {best['value']}" in (out / "best.yaml").read_text()
    assert "Best trial" in result.stdout


def test_same_seed_same_trials(tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ("hydra/sweeper=random", "hydra.sweeper.n_trials=3", "hydra.sweeper.seed=5")
        assert toy(*args, "x=interval(0,1)", f"hydra.sweep.dir={out}", cwd=tmp_path).returncode == 0
        runs.append([r["params"] for r in journal(out)[1].values()])
    assert runs[0] == runs[1]


def test_mapping_results_and_objective_key(tmp_path):
    out = tmp_path / "sweep"
    args = (
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=2",
        "returns=mapping",
        "x=interval(0,1)",
    )
    result = toy(*args, "hydra.sweeper.objective=loss", f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, records = journal(out)
    for r in records.values():
        assert r["value"] == r["metrics"]["loss"] and "accuracy" in r["metrics"]

    missing = tmp_path / "missing"
    result = toy(*args, "hydra.sweeper.objective=nope", f"hydra.sweep.dir={missing}", cwd=tmp_path)
    assert result.returncode != 0
    assert "objective key 'nope'" in result.stderr and "loss" in result.stderr
    assert "Traceback" not in result.stderr
    assert journal(missing)[1][0]["state"] == "failed"  # what ran is kept


def test_failed_and_diverged_trials_do_not_stop_the_sweep(tmp_path):
    out = tmp_path / "sweep"
    result = toy(
        "hydra/sweeper=grid",
        "x=0.0,0.2,0.4,0.6,0.8",
        "fail_above=0.5",
        "nan_below=0.1",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, records = journal(out)
    assert states(records) == ["diverged", "complete", "complete", "failed", "failed"]
    failed = records[3]
    assert "too large" in failed["error"]
    assert "RuntimeError" in (out / failed["traceback"]).read_text()
    text = toy(
        "hydra/sweeper=grid",
        "x=0.1,0.2",
        "returns=text",
        f"hydra.sweep.dir={tmp_path / 't'}",
        cwd=tmp_path,
    )
    assert text.returncode == 0
    # grid learns nothing from values: a text result completes without one, as under Hydra's
    # basic sweeper (a strategy that needs values fails it: tests/test_hydra_compat.py).
    records = journal(tmp_path / "t")[1].values()
    assert [(r["state"], r["value"]) for r in records] == [("complete", None)] * 2


def test_too_many_failures_stop_with_a_clear_message(tmp_path):
    out = tmp_path / "sweep"
    result = toy(
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=10",
        "hydra.sweeper.max_failures=1",
        "x=interval(0.6,1)",
        "fail_above=0.5",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "max_failures=1" in result.stderr and "Traceback" not in result.stderr
    _, records = journal(out)
    assert len(records) == 2 and (out / "trials.csv").exists()


def test_conditional_parameters_apply_only_where_the_key_exists(tmp_path):
    result = toy(
        "hydra/sweeper=grid",
        "opt=a,b",
        "opt.alpha=0.1,0.9",
        f"hydra.sweep.dir={tmp_path / 'c'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, records = journal(tmp_path / "c")
    assert states(records) == ["complete"] * 4
    for r in records.values():
        if r["params"]["opt"] == "b":
            assert r["inactive"] == ["opt.alpha"]
            assert not any(o.startswith("opt.alpha") for o in r["overrides"])
        else:
            assert r["inactive"] == [] and f"opt.alpha={r['params']['opt.alpha']}" in r["overrides"]


def test_grid_needs_points_for_intervals(tmp_path):
    result = toy(
        "hydra/sweeper=grid", "x=interval(0,1)", f"hydra.sweep.dir={tmp_path / 'a'}", cwd=tmp_path
    )
    assert result.returncode != 0 and "grid_points" in result.stderr
    result = toy(
        "hydra/sweeper=grid",
        "hydra.sweeper.grid_points=3",
        "x=interval(0,1)",
        "opt=a,b",
        f"hydra.sweep.dir={tmp_path / 'b'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, records = journal(tmp_path / "b")
    assert sorted((r["params"]["x"], r["params"]["opt"]) for r in records.values()) == [
        (x, o) for x in (0.0, 0.5, 1.0) for o in ("a", "b")
    ]


BAD_SWEEPS = [
    (["x=interval(5,1)"], "interval(5,1)"),
    (["x=tag(log, interval(0,1))"], "log"),
    (["n=range(1,1)"], "empty"),
    (["hydra/sweeper=hpfw", "hydra.sweeper.strategy=nope", "x=interval(0,1)"], "installed: "),
    (["hydra.sweeper.n_trials=0", "x=interval(0,1)"], "n_trials"),
    (["hydra.sweeper.batch_size=0", "x=interval(0,1)"], "batch_size"),
    (["hydra.sweeper.resume=true", "x=interval(0,1)"], "no journal"),
    (["y=interval(0,1)"], "'y' is not in the config"),
]


@pytest.mark.parametrize("args,expected", BAD_SWEEPS, ids=[" ".join(a) for a, _ in BAD_SWEEPS])
def test_bad_sweeps_fail_with_one_clear_line(args, expected, tmp_path):
    result = toy("hydra/sweeper=random", *args, f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s" / "trials.jsonl").exists()  # nothing half-started is left


def test_unparsable_sweep_override(tmp_path):
    # Hydra itself parses every override first: its own message for a user app...
    result = toy("hydra/sweeper=random", "x=choice()", cwd=tmp_path)
    assert result.returncode != 0 and "empty choice is not legal" in result.stderr
    # ...and one line from hpfw's command.
    result = run_cli("-m", "optimizer.lr=choice()", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hpfw: error: bad override 'optimizer.lr=choice()': "
        "ValueError while evaluating 'choice()': empty choice is not legal"
    ]


def test_existing_journal_is_never_overwritten_or_resumed_with_another_space(tmp_path):
    out = tmp_path / "sweep"
    base = ("hydra/sweeper=random", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={out}")
    assert toy(*base, "x=interval(0,1)", cwd=tmp_path).returncode == 0
    before = (out / "trials.jsonl").read_text()
    again = toy(*base, "x=interval(0,1)", cwd=tmp_path)
    assert again.returncode != 0 and "resume=true" in again.stderr
    changed = toy(*base, "hydra.sweeper.resume=true", "x=interval(0,2)", cwd=tmp_path)
    assert changed.returncode != 0 and "search space changed" in changed.stderr
    assert (out / "trials.jsonl").read_text() == before


def test_resume_after_sigkill_mid_trial(tmp_path):
    out = tmp_path / "sweep"
    args = [
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.seed=1",
        "sleep=0.4",
        "x=interval(0,1)",
        f"hydra.sweep.dir={out}",
    ]
    kill_mid_sweep([sys.executable, str(TOY), "-m", *args], tmp_path, out, completed=3)
    _, killed = journal(out)
    assert "running" in states(killed)
    assert 3 <= sum(s == "complete" for s in states(killed)) < 8

    result = toy(*args, "hydra.sweeper.resume=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, records = journal(out)
    assert sorted(records) == list(range(8))
    assert states(records) == ["complete"] * 8
    jobs = [r["job"] for r in records.values()]
    assert len(set(jobs)) == 8  # job numbers continue, no directory is reused
    # Exactly what an uninterrupted sweep with the same seed would have run.
    clean = tmp_path / "clean"
    assert toy(*args[:-1], "sleep=0", f"hydra.sweep.dir={clean}", cwd=tmp_path).returncode == 0
    _, uninterrupted = journal(clean)
    assert [r["params"] for r in records.values()] == [r["params"] for r in uninterrupted.values()]


def test_joblib_launcher_gives_the_same_trials(tmp_path):
    common = (
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.batch_size=2",
        "hydra.sweeper.seed=2",
        "x=interval(0,1)",
    )
    assert toy(*common, f"hydra.sweep.dir={tmp_path / 'basic'}", cwd=tmp_path).returncode == 0
    result = toy(
        *common,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path / 'joblib'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    basic, joblib = journal(tmp_path / "basic")[1], journal(tmp_path / "joblib")[1]
    assert [(r["params"], r["value"]) for r in basic.values()] == [
        (r["params"], r["value"]) for r in joblib.values()
    ]


def test_report_command_redraws_from_the_journal(tmp_path):
    out = tmp_path / "sweep"
    assert (
        toy("hydra/sweeper=grid", "x=0.1,0.5", f"hydra.sweep.dir={out}", cwd=tmp_path).returncode
        == 0
    )
    for name in ("best.yaml", "trials.csv", "history.png", "params.png"):
        (out / name).unlink()
    result = run_cli("report", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert all((out / n).exists() for n in ("best.yaml", "trials.csv", "history.png", "params.png"))
    missing = run_cli("report", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_sweep_of_hpfw_trainer(tmp_path):
    out = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.seed=0",
        "trainer.epochs=2",
        "trainer.batch_size=64",
        "optimizer.lr=tag(log, interval(1e-3, 1e-2))",
        "regularization.dropout=interval(0, 0.3)",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    header, records = journal(out)
    assert header["direction"] == "maximize"  # hpfw's objective is val_accuracy
    assert states(records) == ["complete"] * 3
    for r in records.values():
        assert r["value"] == r["metrics"]["val_accuracy"] and "test_accuracy" in r["metrics"]
    assert "unbiased final estimate" in result.stdout
    assert (out / "0" / "metrics.json").exists()


def test_ready_made_search_space(tmp_path):
    out = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "+search=optimizers",
        "hydra/sweeper=random",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.seed=4",
        "trainer.epochs=1",
        "model.hidden_dim=32",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    header, records = journal(out)
    assert set(header["space"]) >= {
        "optimizer",
        "optimizer.lr",
        "optimizer.momentum",
        "optimizer.b1",
    }
    assert header["groups"] == ["optimizer"]
    for r in records.values():
        assert r["state"] == "complete"
        if r["params"]["optimizer"] == "sgd":
            assert "optimizer.b1" in r["inactive"] and "optimizer.momentum" not in r["inactive"]
        else:
            assert "optimizer.momentum" in r["inactive"]
