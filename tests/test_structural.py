"""A trial inside an envelope trains the same network as its own program, and stays clean.

For every model family and every structural key: a trial padded into a
larger program (wider, deeper, more heads, larger batches, more epochs, more
optimiser families) starts from the same weights, drops the same units and
reaches the same losses as the program of exactly its own sizes
(docs/structural.md). Compiling is the slow part: each family compiles one
envelope program and one dedicated program per trial, with tiny models.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from omegaconf import OmegaConf

from hpfw.trainer import checkpoint, groups
from hpfw.trainer.compiled import PROGRAMS
from hpfw.trainer.run import prepare, train_and_evaluate, train_prepared
from hpfw.trainer.state import fit_state
from hpfw.trainer.trainer import abstract_state
from tests.helpers import compose_config, journal, run_cli

# First-epoch losses agree to this; later ones drift by float summation order only.
FIRST_EPOCH = 1e-5
FINAL = 1e-4

COMMON = ["regularization.dropout=0.2", "trainer.compilation_cache_dir=null"]
FAMILIES = {
    "mlp": (
        ["model=mlp"],
        "trainer.envelope={hidden_dim:[8,16,24],num_layers:[1,2,3],batch_size:[32,64],"
        "epochs:[1,2,3],optimizer:[sgd,adam,adamw],trials:1}",
    ),
    "cnn": (
        ["model=cnn", "model.kernel_size=3"],
        "trainer.envelope={num_conv_layers:[1,2],channels:[4,8],hidden_dim:[8,16],"
        "batch_size:[64,128],epochs:[1,2],trials:1}",
    ),
    "transformer": (
        ["model=transformer"],
        "trainer.envelope={num_layers:[1,2],d_model:[8,16],num_heads:[1,2,4],mlp_dim:[8,16],"
        "batch_size:[64,128],epochs:[1,2],trials:1}",
    ),
    "decoder": (
        ["task=lm", "data.train_windows=256", "data.val_windows=64", "data.test_windows=64",
         "model.context_length=8", "generation.prompt_length=2"],
        "trainer.envelope={num_layers:[1,2],d_model:[8,16],num_heads:[1,2,4],mlp_dim:[8,16],"
        "batch_size:[32,64],epochs:[1,2],trials:1}",
    ),
}  # fmt: skip

# A trial of each family smaller than its envelope in every structural key.
SMALL = {
    "mlp": ["model.hidden_dim=16", "model.num_layers=2", "trainer.batch_size=32",
            "trainer.epochs=2", "optimizer=sgd", "optimizer.nesterov=true"],
    "cnn": ["model.num_conv_layers=1", "model.channels=4", "model.hidden_dim=8",
            "trainer.batch_size=64", "trainer.epochs=1"],
    "transformer": ["model.num_layers=1", "model.d_model=8", "model.num_heads=2",
                    "model.mlp_dim=8", "trainer.batch_size=64", "trainer.epochs=1"],
    "decoder": ["model.num_layers=1", "model.d_model=8", "model.num_heads=2", "model.mlp_dim=8",
                "trainer.batch_size=32", "trainer.epochs=1"],
}  # fmt: skip

# The MLP, one structural key at a time below the envelope (the rest at its largest).
MLP_LARGEST = ["model.hidden_dim=24", "model.num_layers=3", "trainer.batch_size=64",
               "trainer.epochs=3", "optimizer=adamw"]  # fmt: skip
MLP_ONE_KEY = {
    "hidden_dim": ["model.hidden_dim=8"],
    "num_layers": ["model.num_layers=1"],
    "batch_size": ["trainer.batch_size=32"],
    "epochs": ["trainer.epochs=1"],
    "optimizer": ["optimizer=adam"],
}


def _pair(family: str, trial: list[str]) -> tuple[dict, dict]:
    """The same trial on its own program and inside the family's envelope."""
    base, envelope = FAMILIES[family]
    own = compose_config([*COMMON, *base, *trial])
    padded = compose_config([*COMMON, *base, *trial, envelope])
    return train_and_evaluate(own), train_and_evaluate(padded)


def _assert_same_training(own: dict, padded: dict) -> None:
    assert padded["program"] != own["program"]  # it really ran padded
    for curve in ("train_loss", "val_loss"):
        a, b = own["epochs"][curve], padded["epochs"][curve]
        assert len(a) == len(b)
        assert b[0] == pytest.approx(a[0], abs=FIRST_EPOCH), curve
        np.testing.assert_allclose(b, a, rtol=FINAL, atol=FINAL, err_msg=curve)
    for key in ("val_accuracy", "test_loss", "test_accuracy", "steps"):
        assert padded[key] == pytest.approx(own[key], rel=FINAL, abs=FINAL), key


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_padded_trial_trains_its_own_network(family: str) -> None:
    _assert_same_training(*_pair(family, SMALL[family]))


@pytest.mark.slow
@pytest.mark.parametrize("key", list(MLP_ONE_KEY))
def test_each_structural_key_of_the_mlp_pads_exactly(key: str) -> None:
    trial = [o for o in MLP_LARGEST if o.split("=")[0] not in _keys(MLP_ONE_KEY[key])]
    _assert_same_training(*_pair("mlp", trial + MLP_ONE_KEY[key]))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["transformer", "decoder"])
def test_a_batch_of_micro_batches_trains_its_own_network(family: str) -> None:
    """The largest batch of the envelope runs as two micro-batches on a CPU: the same steps.

    Dropout over tokens is the part at stake: each micro-batch drops what its
    rows drop in the whole batch.
    """
    batch = {"transformer": 128, "decoder": 64}[family]
    trial = [*SMALL[family], f"trainer.batch_size={batch}"]
    own, padded = _pair(family, trial)
    assert padded["steps"] == own["steps"]
    _assert_same_training(own, padded)


def _keys(overrides: list[str]) -> set[str]:
    return {o.split("=")[0] for o in overrides}


def test_inactive_units_and_optimizer_slots_stay_zero() -> None:
    """After training padded, every entry outside the trial's own sizes is still exactly zero."""
    base, envelope = FAMILIES["mlp"]
    run = prepare(compose_config([*COMMON, *base, *SMALL["mlp"], envelope]))
    assert run.spec.program != run.spec.dedicated
    _, state = train_prepared(run, return_state=True)
    state = jax.device_get(state)
    own = fit_state(state, abstract_state(run.spec))
    again = fit_state(own, abstract_state(run.spec.program))
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    # ... and the trial's own entries did train.
    assert any(np.abs(leaf).sum() > 0 for leaf in jax.tree.leaves(own["params"]))


def test_checkpoints_hold_own_shapes_and_continue_in_any_program(tmp_path: Path) -> None:
    """Epoch 1 padded in an envelope, epoch 2 on the trial's own program: as one own run."""
    base, envelope = FAMILIES["mlp"]
    trial = [*COMMON, *base, "model.hidden_dim=16", "model.num_layers=2",
             "trainer.batch_size=32", "trainer.schedule_epochs=2"]  # fmt: skip
    straight = train_and_evaluate(compose_config([*trial, "trainer.epochs=2"]))
    ckpt = f"trainer.checkpoint_dir={tmp_path}"
    first = train_and_evaluate(compose_config([*trial, "trainer.epochs=1", ckpt, envelope]))
    assert "hidden_dim 8-24" in first["program"]
    saved, _ = jax.tree_util.tree_flatten_with_path(
        checkpoint.restore(tmp_path / "epoch_1", None)["params"]
    )
    kernels = {
        jax.tree_util.keystr(path): np.shape(leaf)
        for path, leaf in saved
        if "hidden" in jax.tree_util.keystr(path) and "kernel" in jax.tree_util.keystr(path)
    }
    # The trial's own two layers and width, not the envelope's three layers of 24.
    assert sorted(kernels.values()) == [(16, 16), (64, 16)], kernels
    second = train_and_evaluate(compose_config([*trial, "trainer.epochs=2", ckpt]))
    assert second["start_epoch"] == 1
    both = first["epochs"]["val_loss"] + second["epochs"]["val_loss"]
    np.testing.assert_allclose(both, straight["epochs"]["val_loss"], rtol=FINAL, atol=FINAL)


def test_continuing_inside_an_envelope_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """Epoch 1 on the trial's own program, epoch 2 padded: the start epoch is an input too."""
    base, envelope = FAMILIES["mlp"]
    trial = [*COMMON, *base, "model.hidden_dim=16", "model.num_layers=2",
             "trainer.batch_size=32", "trainer.schedule_epochs=2"]  # fmt: skip
    straight = train_and_evaluate(compose_config([*trial, "trainer.epochs=2"]))
    ckpt = f"trainer.checkpoint_dir={tmp_path}"
    first = train_and_evaluate(compose_config([*trial, "trainer.epochs=1", ckpt]))
    second = train_and_evaluate(compose_config([*trial, "trainer.epochs=2", ckpt, envelope]))
    assert second["start_epoch"] == 1 and "hidden_dim 8-24" in second["program"]
    both = first["epochs"]["val_loss"] + second["epochs"]["val_loss"]
    np.testing.assert_allclose(both, straight["epochs"]["val_loss"], rtol=FINAL, atol=FINAL)
    assert second["test_accuracy"] == pytest.approx(straight["test_accuracy"], abs=FINAL)


@pytest.mark.slow
def test_a_vmapped_group_spans_architectures() -> None:
    """Trials of different widths, depths, batch sizes, epochs and optimisers: one program."""
    base, envelope = FAMILIES["mlp"]
    trials = [
        ["model.hidden_dim=8", "model.num_layers=1", "trainer.batch_size=64",
         "trainer.epochs=1", "optimizer=sgd"],
        ["model.hidden_dim=24", "model.num_layers=3", "trainer.batch_size=32",
         "trainer.epochs=3", "optimizer=adamw"],
        ["model.hidden_dim=16", "model.num_layers=2", "trainer.batch_size=64",
         "trainer.epochs=2", "optimizer=adam"],
    ]  # fmt: skip
    cfgs = [compose_config([*COMMON, *base, *t, envelope, "trainer.seed=3"]) for t in trials]
    before = PROGRAMS.compile_count
    vmapped = groups.train_many(cfgs, mode="vmap")
    assert PROGRAMS.compile_count - before <= 1  # one program for three architectures
    assert len({r["program"] for r in vmapped}) == 1
    alone = [train_and_evaluate(cfg) for cfg in cfgs]
    for a, b in zip(vmapped, alone, strict=True):
        assert a["epochs"]["epoch"] == b["epochs"]["epoch"]
        np.testing.assert_allclose(a["epochs"]["val_loss"], b["epochs"]["val_loss"], rtol=1e-4)
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=2 / 359)


@pytest.mark.slow
def test_a_sweep_over_every_structural_key_compiles_at_most_two_programs(tmp_path: Path) -> None:
    """12 trials over widths, depths, batch sizes, epochs, optimisers, schedules, Nesterov."""
    result = run_cli(
        "-m",
        "hydra/sweeper=random",
        "hydra/launcher=batched",
        "hydra.sweeper.n_trials=12",
        "hydra.sweeper.batch_size=12",
        "hydra.sweeper.seed=1",
        "model.hidden_dim=choice(8,16,32)",
        "model.num_layers=int(interval(1,3))",
        "trainer.batch_size=choice(64,128)",
        "trainer.epochs=choice(1,2)",
        "optimizer=sgd,adam,adamw",
        "optimizer.schedule=constant,cosine,warmup_cosine",
        "optimizer.nesterov=true,false",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = [json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/metrics.json")]
    assert len(metrics) == 12 and all(m["status"] == "complete" for m in metrics)
    compiled = [m for m in metrics if m["compile_cache"] != "process"]  # one per program
    assert 1 <= len(compiled) <= 2, [m["program"] for m in compiled]
    _, records = journal(tmp_path / "sweep")
    structures = {
        tuple(r["params"][k] for k in ("model.hidden_dim", "model.num_layers", "optimizer"))
        for r in records.values()
    }
    assert len(structures) > 4  # many architectures and optimisers, one or two programs
    # Every trial knows the sweep's trials and the batch launched at once (the cost model's).
    saved = OmegaConf.load(next((tmp_path / "sweep").glob("*/.hydra/config.yaml")))
    assert (saved.trainer.envelope.trials, saved.trainer.envelope.group) == (12, 12)
