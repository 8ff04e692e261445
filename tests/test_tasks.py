"""The task table, the dataset registry and the launcher's hook: who runs and registers what."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from hpfw.app import train_task
from hpfw.data import available_datasets, register_dataset
from hpfw.errors import ConfigError
from hpfw.launch.protocol import GroupTaskFunction
from hpfw.tasks import TASKS, task_for
from tests.helpers import ROOT, compose_config


def test_the_table_holds_every_task_option_and_each_function_imports() -> None:
    options = {p.stem for p in (ROOT / "conf" / "task").glob("*.yaml")}
    assert set(TASKS) == options
    for task in TASKS.values():
        assert callable(task.task_function())


def test_a_config_names_its_task() -> None:
    assert task_for(compose_config()).name == "classify"
    assert task_for(compose_config(["task=lm"])).name == "lm"
    assert task_for(OmegaConf.create({})).name == "classify"  # no task: a classifier
    with pytest.raises(ConfigError, match=r"'task'.*allowed: classify, lm"):
        task_for(OmegaConf.create({"task": "translate"}))


def test_hpfw_task_function_groups_classifiers_only() -> None:
    assert isinstance(train_task, GroupTaskFunction)
    assert train_task.groupable(compose_config())
    assert not train_task.groupable(compose_config(["task=lm"]))


NO_LM_YET = """
import sys
from hpfw.data import available_datasets, load_dataset
from hpfw.errors import ConfigError
from hpfw.tasks import TASKS
print(available_datasets(), "hpfw.lm" in sys.modules)
cfg = {"name": "markov", "vocab_size": 4, "order": 1, "concentration": 0.5, "source_seed": 0,
       "train_windows": 4, "val_windows": 2, "test_windows": 2, "split_seed": 0}
try:
    load_dataset(cfg, context_length=8)
except ConfigError as error:
    print(error)
TASKS["lm"].import_modules()
print(available_datasets(), load_dataset(cfg, context_length=8).x_train.shape)
"""


def test_the_lm_task_registers_its_datasets_and_hpfw_data_imports_no_task() -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_LM_YET], cwd=ROOT, capture_output=True, text=True, check=True
    )
    before, error, after = result.stdout.strip().splitlines()
    assert before == "('digits', 'npz') False"
    assert "unknown dataset 'markov'; allowed: digits, npz" in error
    assert after == "('digits', 'markov', 'npz', 'text') (4, 8)"


def test_an_unknown_name_lists_the_datasets_of_its_kind() -> None:
    import hpfw.lm  # noqa: F401  (registers markov and text)
    from hpfw.data import load_dataset

    with pytest.raises(ConfigError, match=r"'data\.name'.*allowed: digits, npz$"):
        load_dataset({"name": "mnist"})
    with pytest.raises(ConfigError, match=r"'data\.name'.*allowed: markov, text$"):
        load_dataset({"name": "shakespeare"}, context_length=16)
    with pytest.raises(ConfigError, match=r"markov is a language-model corpus; use task=lm"):
        load_dataset({"name": "markov"})


def test_a_dataset_name_registers_once() -> None:
    assert "digits" in available_datasets()
    with pytest.raises(ValueError, match="digits"):
        register_dataset("digits", lambda cfg, context_length: None)  # type: ignore[arg-type,return-value]
