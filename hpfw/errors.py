"""Errors hpfw raises for bad input: one line, naming the key and what is allowed."""

from __future__ import annotations

from hydra.errors import CompactHydraException


class HpfwError(CompactHydraException, ValueError):
    """Base class for user-facing hpfw errors: a bad value, named in one line.

    Subclassing Hydra's ``CompactHydraException`` makes Hydra print only the
    message (no traceback) and exit with status 1; ``HYDRA_FULL_ERROR=1`` still
    shows the full stack. It is a ``ValueError`` too, which is what a Python
    caller of ``hpfw.sweep`` or ``hpfw.create_strategy`` expects of a bad argument.
    """


class ConfigError(HpfwError, ValueError):
    """A configuration value is out of range or inconsistent with another one."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.reason = message
        super().__init__(f"Invalid config '{key}': {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # A launcher's worker process (joblib, submitit) sends the error back pickled;
        # the default would call ConfigError(formatted message) and lose the key.
        return (type(self), (self.key, self.reason))


class DataError(HpfwError, ValueError):
    """A dataset file is missing, malformed or inconsistent."""
