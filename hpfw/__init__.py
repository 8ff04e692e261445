"""hpfw: hyperparameter tuning for JAX, driven by Hydra configs.

The public API for ask/tell use without Hydra::

    import hpfw
    space = {"lr": hpfw.Float(1e-4, 1e-1, log=True), "layers": hpfw.Int(1, 4)}
    strategy = hpfw.create_strategy("random", space, direction="maximize", seed=0)
    for trial in strategy.ask(4):
        strategy.tell(trial, evaluate(**trial.params))
"""

from __future__ import annotations

import os

# Before JAX starts a GPU backend: allocate on demand instead of grabbing 75% of
# every visible GPU in every process, so concurrent trials (and the sweeper's
# own Bayesian model) can share a node. A value the user set is kept.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from hpfw.search import (
    Categorical,
    Float,
    Int,
    Strategy,
    Trial,
    TrialState,
    available_strategies,
    create_strategy,
    register_strategy,
)

__version__ = "0.1.0"

__all__ = [
    "Categorical",
    "Float",
    "Int",
    "Strategy",
    "Trial",
    "TrialState",
    "__version__",
    "available_strategies",
    "create_strategy",
    "register_strategy",
]
