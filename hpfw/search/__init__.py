"""Search spaces, the Strategy base class, the registry and the built-in strategies."""

from hpfw.search.registry import (
    ENTRY_POINT_GROUP,
    available_strategies,
    create_strategy,
    register_strategy,
    strategy_class,
)
from hpfw.search.space import Categorical, Distribution, Float, Int, SearchSpace
from hpfw.search.strategy import Strategy, Trial, TrialState

__all__ = [
    "ENTRY_POINT_GROUP",
    "Categorical",
    "Distribution",
    "Float",
    "Int",
    "SearchSpace",
    "Strategy",
    "Trial",
    "TrialState",
    "available_strategies",
    "create_strategy",
    "register_strategy",
    "strategy_class",
]
