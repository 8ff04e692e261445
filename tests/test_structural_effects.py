"""Every structural value a program takes as an input changes what it trains.

The structural counterpart of ``test_train.py``'s traced hyperparameters: an
envelope program (docs/structural.md) reads a trial's sizes, epochs and
optimiser choices from its inputs, so a program that ignored one of them would
train every trial of its envelope the same. Each case runs one compiled
envelope program twice, with inputs that differ in that value alone.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hpfw.trainer.optim import SCHEDULES
from hpfw.trainer.run import prepare, run_program
from hpfw.trainer.spec import STRUCTURE_NAMES
from tests.helpers import compose_config
from tests.test_structural import COMMON, FAMILIES

# Per family: a trial at its envelope's largest sizes, under which every structural
# value is live (sgd with momentum for nesterov, a clipping norm small enough to bite,
# a decaying schedule for its horizon).
TRIALS = {
    "mlp": ["model.hidden_dim=24", "model.num_layers=3", "trainer.batch_size=64",
            "trainer.epochs=3", "optimizer=sgd", "optimizer.momentum=0.9",
            "optimizer.schedule=warmup_cosine", "optimizer.grad_clip_norm=0.05"],
    "cnn": ["model.kernel_size=3", "model.num_conv_layers=2", "model.channels=8",
            "model.hidden_dim=16", "trainer.batch_size=128", "trainer.epochs=2"],
    "transformer": ["model.num_layers=2", "model.d_model=16", "model.num_heads=4",
                    "model.mlp_dim=16", "trainer.batch_size=128", "trainer.epochs=2"],
}  # fmt: skip

# For each structural input: the family whose envelope holds it, and a new value.
CASES: dict[str, tuple[str, int]] = {
    "hidden_dim": ("mlp", 16),
    "num_layers": ("mlp", 2),
    "batch_size": ("mlp", 32),
    "epochs": ("mlp", 2),
    "start_epoch": ("mlp", 1),
    "schedule_epochs": ("mlp", 6),
    "optimizer": ("mlp", 1),  # sgd -> adam (the envelope's second family)
    "schedule": ("mlp", SCHEDULES.index("constant")),
    "nesterov": ("mlp", 1),
    "clip": ("mlp", 0),
    "num_conv_layers": ("cnn", 1),
    "channels": ("cnn", 4),
    "d_model": ("transformer", 8),
    "num_heads": ("transformer", 2),
    "mlp_dim": ("transformer", 8),
}
_RUNS: dict[str, tuple] = {}


def _envelope_run(family: str) -> tuple:
    """The family's envelope program, its baseline inputs, and what one run needs."""
    if family not in _RUNS:
        base, envelope = FAMILIES[family]
        run = prepare(compose_config([*COMMON, *base, *TRIALS[family], envelope]))
        assert run.spec.program != run.spec.dedicated  # an envelope program, padding
        program = run_program(run)
        key = jax.random.key(run.seed)
        _RUNS[family] = (run, program, key, program.fresh_state(run.device))
    return _RUNS[family]


def _train_losses(family: str, inputs: dict) -> np.ndarray:
    run, program, key, start = _envelope_run(family)
    out = program.run(jax.device_put(inputs, run.device), key, run.data, start)
    return np.asarray(out["train_loss"])


@pytest.mark.parametrize("name", STRUCTURE_NAMES)
def test_every_structural_input_changes_training(name: str) -> None:
    """Changing one structural input alone changes the per-epoch train losses.

    Parametrised over ``STRUCTURE_NAMES``: a new structural input fails here
    until it has a case in ``CASES`` under which it is shown to take effect.
    """
    if name not in CASES:
        pytest.fail(f"{name} is in STRUCTURE_NAMES but has no case in CASES")
    family, value = CASES[name]
    run = _envelope_run(family)[0]
    inputs = run.inputs()
    assert int(inputs[name]) != value, "the case must change the value"
    before = _train_losses(family, inputs)
    after = _train_losses(family, {**inputs, name: np.int32(value)})
    assert np.isfinite(before[: run.spec.run_epochs]).all()
    # An ignored input reproduces the baseline bit for bit (runs are deterministic).
    assert not np.array_equal(before, after, equal_nan=True), (name, before, after)
