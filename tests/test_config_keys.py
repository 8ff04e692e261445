"""Keys hpfw never reads are errors: one line naming the closest key, before anything runs."""

from __future__ import annotations

import pytest

from hpfw.config_keys import check_known_keys, unknown_keys
from hpfw.errors import ConfigError
from tests.helpers import compose_config, run_cli


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "+trainer.epoch=5",
            "'trainer.epoch': hpfw reads no such key; did you mean trainer.epochs",
        ),
        ("+model.hidden=8", "'model.hidden': hpfw reads no such key; did you mean model.hidden_d"),
        ("+optimizer.momentun=0.5", "did you mean optimizer.momentum? (only optimizer=sgd has"),
        ("+regularization.zzz=1", "the regularization keys are: dropout, weight_decay"),
    ],
)
def test_an_added_key_no_schema_defines_names_the_closest(override, expected):
    with pytest.raises(ConfigError, match=r"^Invalid config ") as error:
        check_known_keys(compose_config([override]))
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_known_keys_and_keys_outside_hpfws_groups_pass():
    check_known_keys(compose_config(["task=lm", "generation.top_k=4", "model.num_layers=1"]))
    check_known_keys(compose_config(["+experiment=1", "+width=64"]))  # the user's own keys
    assert unknown_keys(compose_config([])) == []


def test_a_single_run_and_a_sweep_stop_before_running(tmp_path):
    run = run_cli("+trainer.epoch=5", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "hpfw: error: Invalid config 'trainer.epoch': hpfw reads no such key; "
        "did you mean trainer.epochs?"
    )
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "+trainer.epoch=5", "optimizer.lr=0.01,0.02", f"hydra.sweep.dir={sweep_dir}"]
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("did you mean trainer.epochs?")
    assert not (sweep_dir / "trials.jsonl").exists()  # checked before the first trial
