"""A checkpoint's settings: recorded with it, taken by a run that reads it, conflicts named."""

from __future__ import annotations

import pytest

from hpfw.config import CNNConfig
from hpfw.errors import ConfigError
from hpfw.trainer.saved_settings import adopt, given_overrides, record
from tests.helpers import compose_config

SOURCE = "trainer.checkpoint_dir 'ck/epoch_3'"


def test_record_keeps_every_setting_as_plain_json():
    saved = record(compose_config(["model=cnn", "trainer.epochs=3", "optimizer=sgd"]))
    assert saved["model"]["name"] == "cnn" and saved["model"]["activation"] == "relu"
    assert saved["optimizer"]["name"] == "sgd" and saved["optimizer"]["schedule"] == "cosine"
    assert saved["trainer"] == {
        "epochs": 3,
        "batch_size": 32,
        "seed": 0,
        "precision": "float32",
        "schedule_epochs": 3,  # null is recorded as the horizon it meant
    }
    assert set(saved) == {"model", "optimizer", "regularization", "data", "trainer"}


def test_a_reading_run_takes_what_it_was_not_given():
    saved = record(compose_config(["model=cnn", "model.channels=8", "trainer.batch_size=16"]))
    cfg = compose_config(["trainer.epochs=5"])  # model=mlp by default
    with given_overrides(["trainer.epochs=5", "trainer.checkpoint_dir=ck"]):
        adopt(cfg, saved, SOURCE, skip=("trainer.epochs",))
    assert cfg.model.name == "cnn" and cfg.model.channels == 8
    assert isinstance(cfg.model.activation, type(CNNConfig().activation))  # typed again
    assert cfg.trainer.batch_size == 16 and cfg.trainer.epochs == 5


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["trainer.batch_size=64"], "'trainer.batch_size': 64 on the command line, but "),
        (["model=cnn"], "'model.name': 'cnn' on the command line, but "),
    ],
)
def test_a_given_value_that_differs_names_both(given, message):
    saved = record(compose_config([]))  # mlp, batch 32
    with given_overrides(given), pytest.raises(ConfigError) as error:
        adopt(compose_config(given), saved, SOURCE)
    assert message in str(error.value) and f"{SOURCE} was saved with" in str(error.value)


def test_outside_a_hydra_job_every_difference_counts_as_given():
    saved = record(compose_config(["model.hidden_dim=64"]))
    with pytest.raises(ConfigError, match=r"'model\.hidden_dim': 256 here, but .* with 64"):
        adopt(compose_config([]), saved, SOURCE)
    adopt(compose_config(["model.hidden_dim=64"]), saved, SOURCE)  # equal: nothing to say
