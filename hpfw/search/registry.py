"""The strategy registry: entry points (built-ins and plugins alike) and in-process registrations.

hpfw's own strategies are declared in its pyproject.toml under the
``hpfw.strategies`` entry-point group, exactly like a third party's, so a new
built-in is one file and one entry-point line (docs/writing-a-strategy.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from hpfw.errors import HpfwError
from hpfw.search.space import Distribution
from hpfw.search.strategy import Strategy

ENTRY_POINT_GROUP = "hpfw.strategies"

_registered: dict[str, type[Strategy]] = {}

S = TypeVar("S", bound=type[Strategy])


class UnknownStrategyError(HpfwError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_strategy(name: str, cls: S | None = None) -> S | Callable[[S], S]:
    """Registers ``cls`` under ``name``; usable as ``@register_strategy("name")``.

    Names are unique across entry points and earlier registrations.
    """

    def add(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{cls!r} is not a subclass of hpfw.Strategy")
        if name in _registered or name in _entry_point_names():
            raise ValueError(f"a strategy named {name!r} is already registered")
        cls.name = name
        _registered[name] = cls
        return cls

    return add(cls) if cls is not None else add


def _entry_point_names() -> dict[str, Any]:
    # Only names are read here; a strategy's module loads when it is first used.
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_strategies() -> list[str]:
    """Every strategy name that ``create_strategy`` accepts, sorted."""
    return sorted({*_registered, *_entry_point_names()})


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name``; an unknown name lists the installed ones."""
    if name in _registered:
        return _registered[name]
    found = _entry_point_names().get(name)
    if found is None:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; installed: {', '.join(available_strategies())}"
        )
    cls = found.load()
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"entry point {name!r} ({found.value}) is not an hpfw.Strategy")
    cls.name = name
    _registered[name] = cls
    return cls


def create_strategy(
    name: str,
    space: Mapping[str, Distribution],
    *,
    direction: str = "minimize",
    seed: int | None = None,
    **options: Any,
) -> Strategy:
    """Creates the strategy ``name`` over ``space`` for ask/tell use without Hydra.

    Example:
        >>> import hpfw
        >>> s = hpfw.create_strategy("random", {"lr": hpfw.Float(1e-4, 1e-1, log=True)}, seed=0)
        >>> [trial] = s.ask(1)
        >>> s.tell(trial, 0.5)
    """
    cls = strategy_class(name)
    try:
        return cls(space, direction=direction, seed=seed, **options)
    except TypeError as error:
        if "unexpected keyword" in str(error):
            raise HpfwError(f"strategy {name!r} does not take option(s): {error}") from None
        raise
