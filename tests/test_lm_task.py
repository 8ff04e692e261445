"""task=lm in process: it learns, saves and reuses a checkpoint, and sweeps compile nothing."""

from __future__ import annotations

import math
import re

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hpfw.data import load_dataset
from hpfw.errors import ConfigError, HpfwError
from hpfw.lm import evaluate
from hpfw.lm.task import run_lm
from hpfw.trainer import checkpoint, compiled
from hpfw.trainer.run import prepare
from hpfw.trainer.saved_settings import given_overrides
from hpfw.trainer.trainer import EVAL_CHUNK, Trainer, abstract_state
from tests.helpers import compose_config

# A short run of the default model on a smaller corpus: still well past the unigram baseline.
SHORT = ["task=lm", "trainer.epochs=10", "data.train_windows=2000"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short training run that saves its state: ``(metrics, checkpoint_dir)``."""
    directory = tmp_path_factory.mktemp("lm_ckpt")
    metrics = run_lm(compose_config([*SHORT, f"trainer.checkpoint_dir={directory}"]))
    return metrics, directory


def test_lm_trains_well_below_the_unigram_baseline(trained):
    metrics, _ = trained
    assert metrics["status"] == "complete"
    assert metrics["source_entropy"] < metrics["val_loss"]
    # "Clearly lower": more than half of the way from the unigram baseline to the floor.
    gap = metrics["unigram_loss"] - metrics["source_entropy"]
    assert metrics["val_loss"] < metrics["unigram_loss"] - 0.5 * gap, metrics
    assert 0 <= metrics["gen_tv"] < 0.5 and metrics["gen_tv"] == pytest.approx(metrics["model_tv"])
    assert len(metrics["samples"]) == 4 and all(len(s) == 32 for s in metrics["samples"])
    assert metrics["steps"] > 0


# Tiny model; more validation windows than one evaluation chunk, and not a multiple of it,
# so the fidelity program's padding and masking are part of what is checked.
VAL_WINDOWS = EVAL_CHUNK + 76
FIDELITY = [
    "task=lm",
    "trainer.epochs=1",
    "model.d_model=16",
    "model.num_heads=2",
    "model.mlp_dim=32",
    "model.num_layers=1",
    "model.context_length=16",
    "data.train_windows=256",
    f"data.val_windows={VAL_WINDOWS}",
    "data.test_windows=64",
    "generation.temperature=0.7",
    "generation.top_p=0.8",
    "generation.top_k=5",
]


def _sampler_distribution(logits: np.ndarray, temperature: float, top_p: float, top_k: int):
    """Temperature, then the nucleus, then top-k, renormalised: row by row, in NumPy."""
    z = logits.astype(np.float64) / temperature
    probs = np.exp(z - z.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    flat = probs.reshape(-1, probs.shape[-1])
    out = np.zeros_like(flat)
    for row, p in enumerate(flat):
        order = np.argsort(-p, kind="stable")
        # The smallest set of most likely tokens whose mass reaches top_p...
        n_nucleus = int(np.searchsorted(np.cumsum(p[order]), top_p) + 1)
        keep = order[: min(n_nucleus, top_k or len(p))]  # ...then at most top_k of them
        out[row, keep] = p[keep] / p[keep].sum()
    return out.reshape(probs.shape)


@pytest.mark.slow
def test_gen_tv_equals_an_independent_numpy_computation(tmp_path):
    cfg = compose_config([*FIDELITY, f"trainer.checkpoint_dir={tmp_path}"])
    metrics = run_lm(cfg)
    assert metrics["status"] == "complete"

    # The source, rebuilt from its definition: order-2 Markov rows drawn from Dirichlet(0.3).
    vocab, data = 16, cfg.data
    table = np.random.default_rng(data.source_seed).dirichlet(np.full(vocab, 0.3), vocab**2)
    dataset = load_dataset(data, context_length=16)
    x = np.asarray(dataset.x_val)
    assert x.shape == (VAL_WINDOWS, 16)
    previous = np.concatenate([np.zeros((len(x), 1), x.dtype), x[:, :-1]], axis=1)
    truth = table[previous * vocab + x]  # P(next token | the two tokens before it)

    # The saved parameters, applied by a plain forward pass (not hpfw's evaluation program).
    run = prepare(cfg)
    (path,) = [p for p in tmp_path.iterdir() if p.name.startswith("epoch_")]
    params = checkpoint.restore(path, abstract_state(run.spec))["params"]
    model = nnx.merge(Trainer(run.spec).graphdef, params)
    logits = np.asarray(model(jnp.asarray(x), dropout_rate=jnp.float32(0.0), key=None))

    def mean_tv(q: np.ndarray) -> float:
        return float(0.5 * np.abs(truth - q).sum(-1).mean())

    sampler = _sampler_distribution(logits, 0.7, 0.8, 5)
    own = _sampler_distribution(logits, 1.0, 1.0, 0)
    assert metrics["gen_tv"] == pytest.approx(mean_tv(sampler), abs=1e-5)
    assert metrics["model_tv"] == pytest.approx(mean_tv(own), abs=1e-5)
    assert metrics["gen_tv"] != pytest.approx(metrics["model_tv"], abs=1e-3)  # the filters bite


def _gen(directory, *overrides):
    return compose_config([*SHORT, f"generation.checkpoint={directory}", *overrides])


def test_checkpoint_runs_evaluate_without_any_training(trained, monkeypatch):
    metrics, directory = trained

    def no_training(*args, **kwargs):
        raise AssertionError("a checkpoint run must not build or run the trainer's program")

    monkeypatch.setattr(compiled, "compiled_program", no_training)
    monkeypatch.setattr(compiled, "make_train_fn", no_training)
    loaded = run_lm(_gen(directory))
    assert loaded["steps"] == 0 and loaded["train_seconds"] == 0.0
    # The same parameters: the same held-out loss and fidelity as the run that saved them.
    assert loaded["val_loss"] == pytest.approx(metrics["val_loss"], rel=1e-5)
    assert loaded["gen_tv"] == pytest.approx(metrics["gen_tv"], rel=1e-5)
    assert loaded["samples"] == metrics["samples"]


# (temperature, top_p, top_k, seed)
SETTINGS = [(1.0, 1.0, 0, 0), (0.5, 1.0, 0, 0), (2.0, 0.8, 0, 0), (1.0, 1.0, 2, 5)]


def test_generation_settings_compile_nothing(trained):
    _, directory = trained
    run_lm(_gen(directory))  # compiles the evaluation program once, if not yet
    before = (compiled.PROGRAMS.compile_count, evaluate.PROGRAMS.compile_count)
    runs = {
        (t, p, k, seed): run_lm(
            _gen(
                directory,
                f"generation.temperature={t}",
                f"generation.top_p={p}",
                f"generation.top_k={k}",
                f"generation.seed={seed}",
                "generation.prompt_length=6",
                "generation.sample_length=20",
                "generation.num_samples=3",
            )
        )
        for t, p, k, seed in SETTINGS
    }
    assert (compiled.PROGRAMS.compile_count, evaluate.PROGRAMS.compile_count) == before
    tv = {key: m["gen_tv"] for key, m in runs.items()}
    assert tv[(0.5, 1.0, 0, 0)] > tv[(1.0, 1.0, 0, 0)] < tv[(2.0, 0.8, 0, 0)]
    base = runs[(1.0, 1.0, 0, 0)]
    assert len(base["samples"]) == 3 and all(len(s) == 20 for s in base["samples"])
    assert base["samples"] != runs[(1.0, 1.0, 2, 5)]["samples"]
    # The prompt is the start of a held-out window: the same in every run.
    assert {s[:6] for s in base["samples"]} == {s[:6] for s in runs[(0.5, 1.0, 0, 0)]["samples"]}
    assert all(not math.isnan(m["val_loss"]) for m in runs.values())


def test_a_checkpoint_of_another_model_is_a_clear_error(trained):
    _, directory = trained
    with pytest.raises(ConfigError, match=r"model\.d_model.*32.*generation\.checkpoint.*64"):
        run_lm(_gen(directory, "model.d_model=32"))


def test_a_checkpoint_carries_its_settings(trained):
    """The user names the checkpoint and repeats nothing; a conflicting value names both."""
    _, directory = trained
    given = ["task=lm", f"generation.checkpoint={directory}", "generation.temperature=0.9"]
    cfg = compose_config(given)
    with given_overrides(given):
        metrics = run_lm(cfg)
    assert metrics["steps"] == 0 and metrics["loaded_checkpoint"]
    assert cfg.trainer.epochs == 10 and cfg.data.train_windows == 2000  # the saved run's
    given.append("trainer.epochs=4")
    with given_overrides(given), pytest.raises(ConfigError) as error:
        run_lm(compose_config(given))
    assert str(error.value).startswith("Invalid config 'trainer.epochs': 4 on the command line")
    assert "was saved with 10" in str(error.value)


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["generation.top_k=-1"], "generation.top_k"),
        (["generation.prompt_length=32"], "generation.prompt_length"),
        (["generation.sample_length=2"], "generation.sample_length"),
        (["generation.num_samples=17"], "generation.num_samples"),
        (["data.order=0"], "data.order"),
        (["generation.checkpoint=nowhere"], "generation.checkpoint"),
        (["data=text", "data.path=my.txt", "objective=gen_tv"], "objective"),
        (["data=digits"], "data"),
    ],
)
def test_bad_lm_values_name_the_key(overrides, key):
    with pytest.raises(HpfwError, match=re.escape(f"'{key}'")):
        run_lm(compose_config(["task=lm", *overrides]))


def test_lm_parts_without_task_lm_are_refused():
    from hpfw.trainer.run import train_and_evaluate

    for overrides, key in ((["data=markov"], "data"), (["model=decoder"], "model")):
        with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
            train_and_evaluate(compose_config(overrides))


def test_classifier_is_unchanged_by_the_task_group():
    cfg = compose_config()
    assert (cfg.task.value, cfg.model.name, cfg.data.name) == ("classify", "mlp", "digits")
    assert cfg.objective.value == "val_accuracy" and cfg.get("generation") is None
    lm = compose_config(["task=lm"])
    assert (lm.model.name, lm.data.name, lm.objective.value) == ("decoder", "markov", "gen_tv")
    text = compose_config(["task=lm", "data=text", "data.path=my.txt"])
    assert (text.data.name, text.objective.value) == ("text", "val_loss")
    assert np.isclose(lm.generation.top_p, 1.0)
