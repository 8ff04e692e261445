"""Reading and checking the ``data`` config group's values: name, fractions, seed, file path."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf.errors import MissingMandatoryValue

from hpfw.config import DataConfig
from hpfw.errors import ConfigError, DataError

_DEFAULTS = DataConfig()
_REQUIRED = object()


def field(cfg: Any, key: str, default: Any = _REQUIRED) -> Any:
    """``cfg.key`` from a DictConfig, dataclass or mapping; ``ConfigError`` when unset.

    ``default`` is returned when the key is absent; without one, absence is an error.
    """
    try:
        value = cfg[key] if isinstance(cfg, Mapping) else getattr(cfg, key)
    except MissingMandatoryValue:
        value = "???"
    except (KeyError, AttributeError):
        if default is _REQUIRED:
            raise ConfigError(f"data.{key}", "is required but absent from the config") from None
        value = default
    # A dataclass instance keeps omegaconf's MISSING as the literal string.
    if value == "???":
        raise ConfigError(f"data.{key}", "is required but not set (???)")
    return value


def _is_number(value: Any) -> bool:
    # Unlike hpfw.values.is_number, NumPy scalars count: a mapping built by hand
    # may hold them. bool is an int subclass; `val_fraction: true` is a mistake.
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def fractions(cfg: Any) -> tuple[float, float]:
    """``(val_fraction, test_fraction)``, checked: each in range, leaving samples to train on."""
    val = field(cfg, "val_fraction", _DEFAULTS.val_fraction)
    test = field(cfg, "test_fraction", _DEFAULTS.test_fraction)
    if not _is_number(val) or not 0.0 < float(val) < 1.0:
        raise ConfigError("data.val_fraction", f"got {val!r}; allowed: a number in (0, 1)")
    if not _is_number(test) or not 0.0 <= float(test) < 1.0:
        raise ConfigError("data.test_fraction", f"got {test!r}; allowed: a number in [0, 1)")
    if float(val) + float(test) >= 1.0:
        raise ConfigError(
            "data.val_fraction",
            f"val_fraction + test_fraction = {float(val) + float(test):g}; "
            "allowed: a sum below 1, leaving samples to train on",
        )
    return float(val), float(test)


def split_seed(cfg: Any) -> int:
    """``split_seed``, checked: an integer in ``[0, 2**32)``."""
    seed = field(cfg, "split_seed", _DEFAULTS.split_seed)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError("data.split_seed", f"got {seed!r}; allowed: an integer in [0, 2**32)")
    return int(seed)


def resolve_data_path(raw: Any, allowed: str) -> Path:
    """``data.path`` as an existing file; ``ConfigError``/``DataError`` naming the key if not."""
    if not isinstance(raw, str | os.PathLike) or not str(raw):
        raise ConfigError("data.path", f"got {raw!r}; allowed: {allowed}")
    # Imported here so that using hpfw.data outside Hydra does not need it at import.
    from hydra.utils import to_absolute_path

    # Hydra may have changed the working directory to the run's output folder;
    # to_absolute_path resolves against the directory the user launched from
    # (or the current one when Hydra is not initialised).
    path = Path(to_absolute_path(os.path.expanduser(str(raw))))
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise DataError(f"data.path: file '{path}' {what}")
    return path
