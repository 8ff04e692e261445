"""The compiled trainer: it learns, compiles once per static signature, survives divergence."""

from __future__ import annotations

import itertools
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pytest

from hpfw.data import load_dataset
from hpfw.trainer.compiled import PROGRAMS, device_arrays
from hpfw.trainer.flops import param_count, program_flops
from hpfw.trainer.programs import Program, ProgramCache
from hpfw.trainer.run import train_and_evaluate
from hpfw.trainer.spec import (
    HPARAM_NAMES,
    StaticSpec,
    as_hparams,
    hparams_from_config,
    static_spec,
)
from hpfw.trainer.trainer import abstract_state, make_train_fn
from tests.helpers import TINY, compose_config


def test_default_run_learns_digits():
    metrics = train_and_evaluate(compose_config(TINY))
    assert metrics["status"] == "complete"
    assert metrics["val_accuracy"] >= 0.9
    assert metrics["test_accuracy"] >= 0.85
    assert len(metrics["epochs"]["val_accuracy"]) == 3
    # Training loss falls from the first epoch to the last.
    losses = metrics["epochs"]["train_loss"]
    assert losses[-1] < losses[0]


def test_changing_continuous_values_compiles_nothing():
    train_and_evaluate(compose_config([*TINY, "optimizer.lr=0.001"]))
    before = PROGRAMS.compile_count
    changed = [
        "optimizer.lr=0.01",
        "optimizer.b1=0.8",
        "regularization.dropout=0.3",
        "regularization.weight_decay=0.01",
        "regularization.label_smoothing=0.1",
        "optimizer.warmup_fraction=0.2",
        "trainer.seed=7",
    ]
    first = train_and_evaluate(compose_config([*TINY, *changed]))
    assert PROGRAMS.compile_count == before
    assert first["compile_seconds"] == 0.0
    # A static change (the architecture) does compile.
    train_and_evaluate(compose_config([*TINY, "model.hidden_dim=32"]))
    assert PROGRAMS.compile_count == before + 1


# Static settings the other tests here compile anyway (no extra compile for these cases).
SGD_WARMUP = ["optimizer=sgd", "optimizer.nesterov=true", "optimizer.schedule=warmup_cosine"]
ADAMW_CLIP = ["optimizer=adamw", "optimizer.grad_clip_norm=1.0", "optimizer.schedule=constant"]
# For each traced hyperparameter: a setting under which it is live, and a new value for it.
# Momentum needs sgd, b1/b2/eps an adam, warmup_fraction the warm-up schedule, the clipping
# norm clipping on and small enough to bite; weight decay is checked coupled and decoupled.
LIVE: dict[str, list[tuple[list[str], str]]] = {
    "lr": [([], "optimizer.lr=0.01")],
    "momentum": [(SGD_WARMUP, "optimizer.momentum=0.5")],
    "b1": [([], "optimizer.b1=0.5")],
    "b2": [([], "optimizer.b2=0.9")],
    "eps": [([], "optimizer.eps=0.01")],
    "warmup_fraction": [(SGD_WARMUP, "optimizer.warmup_fraction=0.6")],
    "grad_clip_norm": [(ADAMW_CLIP, "optimizer.grad_clip_norm=0.05")],
    "weight_decay": [
        ([], "regularization.weight_decay=0.1"),  # adam: L2 added to the gradient
        (ADAMW_CLIP, "regularization.weight_decay=0.3"),  # adamw: decoupled
    ],
    "dropout": [([], "regularization.dropout=0.4")],
    "label_smoothing": [([], "regularization.label_smoothing=0.2")],
}
_BASELINES: dict[tuple[str, ...], list[float]] = {}


def _train_losses(overrides: list[str]) -> list[float]:
    return train_and_evaluate(compose_config([*TINY, *overrides]))["epochs"]["train_loss"]


@pytest.mark.parametrize("name", HPARAM_NAMES)
def test_every_traced_hyperparameter_changes_training(name):
    """Changing one hyperparameter alone changes every epoch's train loss.

    Parametrised over ``HPARAM_NAMES``: a new traced hyperparameter fails here
    until it has a setting in ``LIVE`` under which it is shown to take effect.
    """
    if name not in LIVE:
        pytest.fail(f"{name} is in HPARAM_NAMES but has no case in LIVE")
    for base, change in LIVE[name]:
        key = tuple(base)
        if key not in _BASELINES:
            _BASELINES[key] = _train_losses(base)
        before, after = np.array(_BASELINES[key]), np.array(_train_losses([*base, change]))
        assert np.isfinite(after).all()
        # An ignored value reproduces the baseline bit for bit (runs are deterministic).
        assert (np.abs(after - before) > 1e-6 * np.abs(before)).all(), (change, before, after)


def test_same_seed_same_metrics_and_different_seed_differs():
    a = train_and_evaluate(compose_config(TINY))
    b = train_and_evaluate(compose_config(TINY))
    c = train_and_evaluate(compose_config([*TINY, "trainer.seed=1"]))
    assert a["epochs"]["train_loss"] == b["epochs"]["train_loss"]
    assert a["epochs"]["train_loss"] != c["epochs"]["train_loss"]


def test_divergence_is_reported_not_raised():
    cfg = compose_config([*TINY, "optimizer=sgd", "optimizer.lr=1e8", "regularization=none"])
    metrics = train_and_evaluate(cfg)
    assert metrics["status"] == "diverged"
    assert math.isnan(metrics["val_accuracy"])
    assert 0 <= metrics["diverged_epoch"] < 3


def test_pure_function_vmaps_over_trials():
    cfg = compose_config(TINY)
    dataset = load_dataset(cfg.data)
    spec = static_spec(cfg, dataset)
    device = jax.devices()[0]
    data = device_arrays(dataset, device)
    values = hparams_from_config(cfg)
    lrs = [1e-3, 3e-3]
    hp = {k: np.array([v] * 2, np.float32) for k, v in values.items()}
    hp["lr"] = np.array(lrs, np.float32)
    keys = jax.random.split(jax.random.key(0), 2)
    batched = jax.jit(jax.vmap(make_train_fn(spec), in_axes=(0, 0, None)))(hp, keys, data)
    single = jax.jit(make_train_fn(spec))
    for i, lr in enumerate(lrs):
        one = single(as_hparams({**values, "lr": lr}), keys[i], data)
        np.testing.assert_allclose(batched["val_loss"][i], one["val_loss"], rtol=1e-4, atol=1e-5)


def _analytic_mlp_flops(spec: StaticSpec, hidden_dim: int, num_layers: int) -> float:
    """Matmul FLOPs of one MLP trial: fwd+bwd (3x forward) per step, one forward per eval sample."""
    dims = [math.prod(spec.input_shape), *[hidden_dim] * num_layers, spec.num_classes]
    per_sample = 2.0 * sum(a * b for a, b in itertools.pairwise(dims))
    _, n_val, n_test = spec.split_sizes
    train_flops = 3 * per_sample * spec.batch_size * spec.total_steps
    return train_flops + per_sample * (spec.epochs * n_val + n_test)


@pytest.mark.parametrize("overrides", [[], TINY], ids=["default", "tiny"])
def test_reported_flops_match_an_analytic_matmul_count(overrides):
    # XLA's cost analysis of the whole program counts each scan body once
    # (~80x too few FLOPs); program_flops counts one step and one evaluation.
    cfg = compose_config(overrides)
    dataset = load_dataset(cfg.data)
    spec = static_spec(cfg, dataset)
    expected = _analytic_mlp_flops(spec, int(cfg.model.hidden_dim), int(cfg.model.num_layers))
    if overrides:  # what a run reports (TINY's program is compiled by the other tests anyway)
        flops = train_and_evaluate(cfg)["flops"]
    else:  # lowering only: the default 20-epoch program is not compiled
        flops = program_flops(spec, device_arrays(dataset, jax.devices()[0]))
    assert flops == pytest.approx(expected, rel=0.25)


@pytest.mark.parametrize(
    "model",
    [
        ["model=mlp", "model.hidden_dim=48", "model.num_layers=3"],
        ["model=cnn", "model.channels=8", "model.num_conv_layers=2"],
        ["model=transformer", "model.d_model=32", "model.num_heads=2", "model.num_layers=1"],
    ],
    ids=["mlp", "cnn", "transformer"],
)
def test_params_counts_the_trials_own_weights_whatever_it_trains_with(model):
    # Trials that train differently share one count (flops.param_count): it must
    # still be each trial's own, leaf for leaf.
    for training in (["optimizer=sgd"], [*ADAMW_CLIP, "trainer.batch_size=16", "trainer.epochs=7"]):
        cfg = compose_config([*model, *training])
        spec = static_spec(cfg, load_dataset(cfg.data))
        leaves = jax.tree.leaves(abstract_state(spec)["params"])
        assert param_count(spec) == sum(math.prod(leaf.shape) for leaf in leaves)


@pytest.mark.parametrize(
    "overrides",
    [SGD_WARMUP, ADAMW_CLIP, ["trainer.precision=bfloat16"]],
    ids=["sgd-nesterov-warmup", "adamw-clip", "bfloat16"],
)
def test_optimizer_families_and_precision_learn(overrides):
    metrics = train_and_evaluate(compose_config([*TINY, *overrides]))
    assert metrics["status"] == "complete"
    assert metrics["val_accuracy"] >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_other_model_families_learn(model):
    metrics = train_and_evaluate(compose_config([*TINY, f"model={model}"]))
    assert metrics["val_accuracy"] >= 0.5


def test_program_cache_compiles_once_for_threads_asking_at_once():
    cache: ProgramCache[Program] = ProgramCache()
    calls = []

    def compile_program() -> Program:
        calls.append(threading.current_thread().name)
        time.sleep(0.2)  # the other threads arrive while it compiles
        return Program(run=lambda: None, compile_seconds=0.2)

    with ThreadPoolExecutor(8) as pool:
        programs = list(pool.map(lambda _: cache.get("key", compile_program), range(8)))
    assert len(calls) == 1 and cache.compile_count == 1
    assert all(p is programs[0] for p in programs)
    # Exactly one caller reports the compile, however many threads ask.
    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(lambda p: p.first_use(), programs)) == 1
    cache.reset_compile_count()
    assert cache.compile_count == 0 and "key" in cache


def test_program_cache_wait_returns_once_a_background_compile_ends():
    cache: ProgramCache[Program] = ProgramCache()

    def slow() -> Program:
        time.sleep(0.3)
        return Program(run=print, compile_seconds=0.3)

    def broken() -> Program:
        time.sleep(0.3)
        raise RuntimeError("out of memory")

    cache.prefetch("slow", slow)
    cache.prefetch("broken", broken)
    cache.wait("slow")
    assert "slow" in cache
    cache.wait("broken")  # a failed compile ends the wait too, without raising
    assert not cache.compiling("broken") and "broken" not in cache
    cache.wait("never asked for")


def test_program_cache_keeps_nothing_when_compiling_fails():
    cache: ProgramCache[Program] = ProgramCache()

    def broken() -> Program:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cache.get("key", broken)
    assert "key" not in cache and cache.compile_count == 0
    program = cache.get("key", lambda: Program(run=print, compile_seconds=0.0))
    assert cache.get("key", broken) is program and cache.compile_count == 1
