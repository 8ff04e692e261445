"""Hydra's sweep-override grammar turned into typed search-space values.

``interval(a,b)`` -> Float, ``int(interval(a,b))`` -> Int,
``tag(log, interval(a,b))`` -> log-scaled, ``range(a,b[,step])`` -> Int or a
stepped Float over Hydra's values (``b`` excluded, as in Python and Hydra),
``choice(...)`` and ``a,b,c`` -> Categorical, and config-group sweeps
(``optimizer=sgd,adam``, ``model=glob(*)``) -> Categorical over group options.
Anything that is not a sweep is a fixed override, passed to every trial as is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    Glob,
    IntervalSweep,
    Override,
    RangeSweep,
)
from hydra.errors import HydraException

from hpfw.errors import HpfwError
from hpfw.search.space import Categorical, Distribution, Float, Int, SearchSpaceError


class SweepOverrideError(HpfwError, ValueError):
    """A sweep override that does not describe a usable search space."""


@dataclass(frozen=True)
class SweepParam:
    """One swept parameter: its name, how to override it, and its values."""

    name: str  # config key or group, e.g. "optimizer.lr" or "optimizer"
    key: str  # the override's key element, keeping a "+" or "++" prefix
    dist: Distribution
    is_group: bool  # a config-group choice rather than a value

    def override(self, value: Any) -> str:
        return f"{self.key}={format_value(value)}"

    @property
    def appends(self) -> bool:
        """Whether the override adds the key (``+key=``), so it applies to every trial."""
        return self.key.startswith("+")


@dataclass(frozen=True)
class ParsedSweep:
    params: dict[str, SweepParam]
    fixed: list[str]  # overrides applied to every trial unchanged
    # group -> option -> reason: options a glob matched but ``glob_exclude`` left out
    left_out: dict[str, dict[str, str]] = field(default_factory=dict)
    # Every overridden name (key or group), swept or fixed, in command-line order: a
    # trial's overrides keep it, as Hydra's basic sweeper keeps the user's order.
    order: tuple[str, ...] = ()


def _range_distribution(sweep: RangeSweep) -> Distribution:
    start, stop, step = sweep.start, sweep.stop, sweep.step
    if step == 0:
        raise SearchSpaceError("range step must not be 0")
    if all(isinstance(v, int) for v in (start, stop, step)):
        values = range(start, stop, step)
        if not values:
            raise SearchSpaceError(f"range({start}, {stop}, {step}) is empty (the end is excluded)")
        return Int(min(values[0], values[-1]), max(values[0], values[-1]), step=abs(step))
    count = math.ceil((stop - start) / step - 1e-9)
    if count <= 0:
        raise SearchSpaceError(f"range({start}, {stop}, {step}) is empty (the end is excluded)")
    last = start + (count - 1) * step
    return Float(float(min(start, last)), float(max(start, last)), step=float(abs(step)))


def distribution_from_override(
    override: Override,
    group_options: Sequence[str] | None = None,
    excluded: Mapping[str, str] | None = None,
) -> Distribution:
    """The search-space value of one sweep override (``override.is_sweep_override()``).

    A glob leaves out the options in ``excluded`` (option -> reason); an explicit
    list of options is taken as written.
    """
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return Categorical(value.list)
    if isinstance(value, Glob):
        everything = value.filter(list(group_options or []))
        matched = [o for o in everything if o not in (excluded or {})]
        if not matched:
            also = f" that fits (left out: {', '.join(everything)})" if everything else ""
            raise SearchSpaceError(
                f"glob matches no option of group '{override.key_or_group}'{also}"
            )
        return Categorical(matched)
    if isinstance(value, RangeSweep):
        return _range_distribution(value)
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return Int(value.start, value.end, log=log)
        return Float(float(value.start), float(value.end), log=log)
    raise SearchSpaceError(f"unsupported sweep {override.input_line!r}")


def parse_sweep(
    overrides: Sequence[str],
    *,
    params: dict[str, str] | None = None,
    group_options: Callable[[str], list[str]] | None = None,
    glob_exclude: Mapping[str, Mapping[str, str]] | None = None,
) -> ParsedSweep:
    """Splits command-line ``overrides`` and config ``params`` into a space and fixed overrides.

    ``params`` is ``hydra.sweeper.params`` (key -> override value, as
    hydra-optuna-sweeper users write it); a command-line override of the same
    key wins. ``group_options(name)`` lists a config group's options (empty
    when ``name`` is not a group). ``glob_exclude`` (group -> option -> reason)
    names options that ``group=glob(...)`` leaves out; ``left_out`` reports
    those a glob matched.
    """
    group_options = group_options or (lambda name: [])
    glob_exclude = glob_exclude or {}
    left_out: dict[str, dict[str, str]] = {}
    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    lines += list(overrides)
    swept: dict[str, SweepParam] = {}
    fixed: dict[str, str] = {}
    order: dict[str, None] = {}  # an ordered set
    for line in lines:
        try:
            override = parser.parse_override(line)
        except HydraException as error:
            raise SweepOverrideError(f"bad override {line!r}: {error}") from None
        name = override.key_or_group
        swept.pop(name, None)
        fixed.pop(name, None)
        left_out.pop(name, None)
        # A name keeps the place it first had, as in Hydra's basic sweeper: a command-line
        # sweep that replaces one of hydra.sweeper.params takes that param's place.
        order.setdefault(name, None)
        if not override.is_sweep_override():
            fixed[name] = line
            continue
        options = group_options(name)
        excluded = glob_exclude.get(name, {}) if options else {}
        try:
            dist = distribution_from_override(override, options, excluded)
        except SearchSpaceError as error:
            raise SweepOverrideError(f"bad sweep {line!r}: {error}") from None
        if isinstance(override.value(), Glob):
            matched = override.value().filter(list(options))
            if dropped := {o: excluded[o] for o in matched if o in excluded}:
                left_out[name] = dropped
        swept[name] = SweepParam(name, override.get_key_element(), dist, bool(options))
    names = tuple(order)
    return ParsedSweep(
        {n: swept[n] for n in names if n in swept},
        [fixed[n] for n in names if n in fixed],
        left_out,
        names,
    )


_PLAIN = re.compile(r"[A-Za-z0-9_./:\-+@]+")


def format_value(value: Any) -> str:
    """``value`` as Hydra override text that parses back to the same value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in {"null", "true", "false"}:
        try:
            float(text)
        except ValueError:
            return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
