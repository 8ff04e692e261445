"""``config_view``: the plain copy ``prepare`` reads must say what the composed config says."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from hpfw.models.layers import option
from hpfw.trainer.config_view import ConfigView, config_view
from hpfw.trainer.run import prepare
from tests.helpers import compose_config


def test_the_view_holds_every_resolved_value_of_the_config() -> None:
    cfg = compose_config(["optimizer=sgd", "model.hidden_dim=96", "trainer.epochs=3"])
    view = config_view(cfg)
    assert isinstance(view, ConfigView)
    assert view == OmegaConf.to_container(cfg, resolve=True)
    assert view.optimizer.name == "sgd" and view.model.hidden_dim == 96
    assert view.trainer.get("schedule_epochs") is None
    assert option(view.model, "activation") == "relu"
    with pytest.raises(AttributeError):
        _ = view.trainer.no_such_key
    assert getattr(view.model, "no_such_key", 7) == 7


@pytest.mark.parametrize("value", ["???", "${hydra:runtime.output_dir}"])
def test_a_config_that_cannot_be_resolved_whole_is_read_as_composed(value: str) -> None:
    """A value left unset, or one only a Hydra job resolves: read (and fail) as before."""
    cfg = compose_config([])
    OmegaConf.update(cfg, "trainer.checkpoint_dir", value)
    assert config_view(cfg) is cfg


def test_a_prepared_run_keeps_the_composed_config_and_reads_the_same_values() -> None:
    cfg = compose_config(["trainer.batch_size=64", "optimizer.lr=0.02", "trainer.seed=5"])
    run = prepare(cfg)
    assert run.cfg is cfg
    assert run.spec.batch_size == 64 and run.seed == 5
    assert run.hparams["lr"] == pytest.approx(0.02)
