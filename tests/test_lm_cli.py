"""task=lm from the command line: text files, bad input, and sweeps that reuse a checkpoint."""

from __future__ import annotations

import json

import pytest

from tests.helpers import journal, run_cli

# A tiny model and corpus: each run trains in a few seconds.
TINY_LM = [
    "task=lm",
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "model.d_model=16",
    "model.num_heads=2",
    "model.mlp_dim=32",
    "model.num_layers=1",
    "model.context_length=16",
]
SMALL_CORPUS = ["data.train_windows=256", "data.val_windows=64", "data.test_windows=64"]

# More bad values are checked in process (tests/test_lm_task.py); these go through the CLI.
BAD_INPUT = [
    (["generation.top_p=1.5"], "generation.top_p"),
    (["generation.temperature=0"], "generation.temperature"),
    (["data=text", "data.path=missing.txt"], "data.path"),
    (["model=mlp"], "model"),
]


@pytest.mark.parametrize("args,key", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_lm_values_fail_with_one_line(args, key, tmp_path):
    result = run_cli("task=lm", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]], result.stderr
    assert lines[0].startswith("hpfw: error:") and key in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_lm_on_a_users_text_file(tmp_path):
    (tmp_path / "my.txt").write_text("to be or not to be, that is the question. " * 60)
    result = run_cli(*TINY_LM, "data=text", "data.path=my.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").glob("*/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["objective"] == "val_loss" and metrics["status"] == "complete"
    assert metrics["val_loss"] < metrics["unigram_loss"]
    assert metrics["source_entropy"] is None and "gen_tv" not in metrics  # no known source
    assert len(metrics["samples"]) == 4
    assert set("".join(metrics["samples"])) <= set("to be or not to be, that is the question. ")
    log = (run_dir / "app.log").read_text()
    assert "unigram baseline" in log and "sample 0:" in log


def test_bayes_sweep_of_generation_settings_on_a_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    trained = run_cli(*TINY_LM, *SMALL_CORPUS, f"trainer.checkpoint_dir={ckpt}", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    sweep_dir = tmp_path / "sweep"
    # The checkpoint carries the model, data and trainer settings: none is repeated.
    result = run_cli(
        "-m",
        "task=lm",
        f"generation.checkpoint={ckpt}",
        "+search=generation",
        "hydra/sweeper=bayes",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_initial=4",
        "hydra.sweeper.seed=0",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    header, trials = journal(sweep_dir)
    assert header["direction"] == "minimize"
    assert set(header["space"]) == {"generation.temperature", "generation.top_p"}
    assert len(trials) == 6 and {t["state"] for t in trials.values()} == {"complete"}
    for t in trials.values():
        assert t["metrics"]["steps"] == 0  # evaluated only: no training step
        assert t["metrics"]["gen_tv"] == t["value"]
    assert len({round(t["value"], 6) for t in trials.values()}) == 6


@pytest.fixture(scope="module")
def swept_together(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Training and generation settings swept together on Hydra's basic launcher."""
    tmp_path = tmp_path_factory.mktemp("lm_sweep")
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        "-m",
        *TINY_LM,
        *SMALL_CORPUS,
        "optimizer.lr=0.003,0.01",
        "generation.temperature=0.7,1.0",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, trials = journal(sweep_dir)
    return {
        (t["params"]["optimizer.lr"], t["params"]["generation.temperature"]): t
        for t in trials.values()
    }


def test_training_and_generation_swept_together(swept_together):
    trials = swept_together
    assert len(trials) == 4 and all(t["state"] == "complete" for t in trials.values())
    assert all(t["metrics"]["steps"] > 0 for t in trials.values())
    # Same training, different temperature: the same model, another sampler.
    a, b = trials[(0.01, 0.7)], trials[(0.01, 1.0)]
    assert a["metrics"]["val_loss"] == pytest.approx(b["metrics"]["val_loss"])
    assert a["value"] != b["value"]


@pytest.mark.slow
def test_lm_sweep_on_the_batched_launcher_equals_the_basic_one(swept_together, tmp_path):
    """task=lm does not train in groups: the batched launcher runs it job by job, unchanged."""
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        "-m",
        *TINY_LM,
        *SMALL_CORPUS,
        "hydra/launcher=batched",
        "optimizer.lr=0.01",
        "generation.temperature=0.7,1.0",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, trials = journal(sweep_dir)
    assert len(trials) == 2
    for t in trials.values():
        basic = swept_together[(0.01, t["params"]["generation.temperature"])]
        assert t["state"] == "complete" and t["value"] == pytest.approx(basic["value"], abs=1e-6)
        for key in ("val_loss", "gen_tv", "model_tv", "steps"):
            assert t["metrics"][key] == pytest.approx(basic["metrics"][key], rel=1e-6), key
        metrics = json.loads((sweep_dir / str(t["job"]) / "metrics.json").read_text())
        assert metrics["objective"] == "gen_tv" and len(metrics["samples"]) == 4
        assert "group" not in metrics  # job by job, not in a trial group
