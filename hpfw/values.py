"""Small conversions of config and metric values that every part of hpfw shares."""

from __future__ import annotations

import math
from typing import Any


def plain(value: Any) -> Any:
    """An Enum member's value, anything else unchanged.

    Config fields arrive as Enum members from the dataclass schemas but as plain
    strings when a caller builds a DictConfig by hand, so compare on the value.
    """
    return getattr(value, "value", value)


def is_number(value: Any) -> bool:
    """An int or float, but not a bool (``True`` is an int to Python, not to a user)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A number that is neither NaN nor infinite."""
    return is_number(value) and math.isfinite(value)


def finite_or_none(value: float) -> float | None:
    """``value``, or ``None`` when it is NaN or infinite (JSON has no NaN)."""
    return value if math.isfinite(value) else None


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``: an error squeezed onto one log line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
