"""Config composition: every group option composes, typed fields reject bad values."""

from __future__ import annotations

import itertools

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from tests.helpers import ROOT, compose_config

GROUPS = {
    group: sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
    for group in ("model", "optimizer", "regularization", "data", "trainer")
}


def test_every_group_has_the_promised_options():
    assert GROUPS["model"] == ["cnn", "decoder", "mlp", "transformer"]
    assert GROUPS["optimizer"] == ["adam", "adamw", "sgd"]
    assert set(GROUPS["regularization"]) >= {"default", "none"}
    assert GROUPS["data"] == ["digits", "markov", "npz", "text"]


@pytest.mark.parametrize(
    "model,optimizer,regularization",
    list(itertools.product(GROUPS["model"], GROUPS["optimizer"], GROUPS["regularization"])),
)
def test_every_combination_composes(model, optimizer, regularization):
    cfg = compose_config(
        [f"model={model}", f"optimizer={optimizer}", f"regularization={regularization}"]
    )
    assert cfg.model.name == model
    assert cfg.optimizer.name == optimizer
    assert OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def test_npz_option_needs_a_path():
    cfg = compose_config(["data=npz", "data.path=x.npz"])
    assert cfg.data.name == "npz" and cfg.data.path == "x.npz"
    assert OmegaConf.is_missing(compose_config(["data=npz"]).data, "path")


def test_defaults():
    cfg = compose_config()
    assert (cfg.model.name, cfg.optimizer.name, cfg.data.name) == ("mlp", "adam", "digits")
    assert cfg.objective.value == "val_accuracy"
    assert cfg.trainer.device.value == "auto"


@pytest.mark.parametrize(
    "override",
    [
        "trainer.epochs=abc",  # wrong type
        "model.hidden_dmi=3",  # typo in a key
        "objective=val_acc",  # not an allowed objective
        "trainer.precision=float16",  # not an allowed precision
        "model.activation=swish",
        "optimizer.lr=fast",
    ],
)
def test_typed_fields_fail_at_compose_time(override):
    with pytest.raises(ConfigCompositionException):
        compose_config([override])


def test_objective_can_be_val_loss():
    assert compose_config(["objective=val_loss"]).objective.value == "val_loss"
