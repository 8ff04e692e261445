"""hpfw: hyperparameter tuning for JAX, driven by Hydra configs.

The public API: whole sweeps from Python, ask/tell without Hydra, and what
strategy plugins need::

    import hpfw
    space = {"lr": hpfw.Float(1e-4, 1e-1, log=True), "layers": hpfw.Int(1, 4)}
    result = hpfw.sweep(evaluate, space, strategy="bayes", n_trials=40, seed=0)
    result.best, hpfw.load(result.directory).table()

    strategy = hpfw.create_strategy("random", space, direction="maximize", seed=0)
    for trial in strategy.ask(4):
        strategy.tell(trial, evaluate(trial.params))

    for epoch in range(epochs):          # inside any trial's training loop
        hpfw.report(epoch, val_loss)
        if hpfw.should_prune():
            raise hpfw.TrialPruned()

Importing hpfw is cheap and changes nothing: the names below load on first
use (PEP 562), and no environment variable is set (``hpfw.process``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time, __getattr__ below
    from hpfw.errors import HpfwError
    from hpfw.pruning.api import TrialPruned, report, should_prune
    from hpfw.search import (
        Categorical,
        Distribution,
        Float,
        Int,
        SearchSpace,
        Strategy,
        Trial,
        TrialState,
        available_strategies,
        create_strategy,
        register_strategy,
    )
    from hpfw.sweeper.python_sweep import sweep
    from hpfw.sweeper.results import SweepResult, TrialResult, load
    from hpfw.trainer.api import compose, train, train_many

__version__ = "0.1.0"

# Each public name and the module it comes from.
_EXPORTS: dict[str, str] = {
    "Categorical": "hpfw.search",
    "Distribution": "hpfw.search",
    "Float": "hpfw.search",
    "HpfwError": "hpfw.errors",
    "Int": "hpfw.search",
    "SearchSpace": "hpfw.search",
    "Strategy": "hpfw.search",
    "SweepResult": "hpfw.sweeper.results",
    "Trial": "hpfw.search",
    "TrialResult": "hpfw.sweeper.results",
    "TrialPruned": "hpfw.pruning.api",
    "TrialState": "hpfw.search",
    "available_strategies": "hpfw.search",
    "compose": "hpfw.trainer.api",
    "create_strategy": "hpfw.search",
    "load": "hpfw.sweeper.results",
    "register_strategy": "hpfw.search",
    "report": "hpfw.pruning.api",
    "should_prune": "hpfw.pruning.api",
    "sweep": "hpfw.sweeper.python_sweep",
    "train": "hpfw.trainer.api",
    "train_many": "hpfw.trainer.api",
}

__all__ = [
    "Categorical",
    "Distribution",
    "Float",
    "HpfwError",
    "Int",
    "SearchSpace",
    "Strategy",
    "SweepResult",
    "Trial",
    "TrialPruned",
    "TrialResult",
    "TrialState",
    "__version__",
    "available_strategies",
    "compose",
    "create_strategy",
    "load",
    "register_strategy",
    "report",
    "should_prune",
    "sweep",
    "train",
    "train_many",
]


def __getattr__(name: str) -> Any:
    """Imports a public name's module on first use (hpfw.search imports Hydra)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hpfw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
