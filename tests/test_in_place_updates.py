"""A padded program's training steps update the weights and moments in place, not through copies.

XLA:CPU copies a loop's state when a step reads a value after overwriting it.
A program that can run several optimiser families once did so for every
weight and both moments at every step (~10 MB a step for three 512-wide
layers, 1.6x its trials' time; docs/structural.md). Checked on the compiled
program's HLO, not on a clock: no while loop's body copies an array the shape
of a weight.
"""

from __future__ import annotations

import re

import jax
import pytest

from hpfw.trainer.compiled import compiled_program
from hpfw.trainer.run import prepare
from hpfw.trainer.trainer import abstract_state
from tests.helpers import compose_config

TRIAL = ["model=mlp", "model.hidden_dim=24", "model.num_layers=3", "trainer.batch_size=32",
         "trainer.epochs=1", "optimizer=adam", "trainer.compilation_cache_dir=null"]  # fmt: skip
ENVELOPES = {
    "optimizer families": "{optimizer:[sgd,adam,adamw],trials:1}",
    "families and depths": "{num_layers:[1,2,3],optimizer:[sgd,adam,adamw],trials:1}",
    "depths": "{num_layers:[1,2,3],trials:1}",
}


def _loop_copies(envelope: str) -> list[str]:
    """The copy instructions of weight-shaped arrays inside the program's loop bodies."""
    run = prepare(compose_config([*TRIAL, f"trainer.envelope={envelope}"]))
    # The program a sweep's trial runs, compiled as the trainer compiles it.
    text = compiled_program(run.spec, run.data, run.device).run.as_text()
    shapes = {
        f"f32[{','.join(map(str, leaf.shape))}]"
        for leaf in jax.tree.leaves(abstract_state(run.spec.program))
        if getattr(leaf, "ndim", 0) == 2
    }
    bodies = set(re.findall(r"body=%([\w.\-]+)", text))
    copies, computation = [], None
    for line in text.splitlines():
        header = re.match(r"^(?:ENTRY )?%([\w.\-]+) \(", line)
        if header:
            computation = header.group(1)
        copy = re.search(r"= (f32\[[0-9,]*\])\S* copy\(", line)
        if copy and computation in bodies and copy.group(1) in shapes:
            copies.append(f"{computation}: {line.strip()[:120]}")
    assert bodies, "the program has no loops: the check would check nothing"
    return copies


@pytest.mark.parametrize("envelope", list(ENVELOPES))
def test_training_steps_update_weights_in_place(envelope: str) -> None:
    assert _loop_copies(ENVELOPES[envelope]) == []
