"""Keys hpfw reads: a key added under one of hpfw's own groups that no schema defines is an error.

Every group node (``model``, ``optimizer``, ``regularization``, ``data``,
``trainer``, ``generation``) is a structured config, so a misspelt key fails
when Hydra composes the config, except when it is *added*: ``+trainer.epoch=5``
puts a key no code reads into the config, and the user believes it was set.
``check_known_keys`` rejects such a key with one line naming the closest known
key (``did you mean trainer.epochs?``). Keys outside hpfw's groups (a user's
own group, a top-level value used in interpolations) are the user's business
and are left alone.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hpfw.config import SCHEMAS
from hpfw.errors import ConfigError


def group_keys(group: str) -> list[str]:
    """Every key any option of ``group`` defines, in schema order."""
    keys: dict[str, None] = {}
    for schema in SCHEMAS[group].values():
        keys.update((f.name, None) for f in dataclasses.fields(schema))
    return list(keys)


def _node_keys(node: DictConfig, group: str) -> list[str]:
    """The keys ``node`` may hold: its schema's fields, or every option's when untyped."""
    schema = OmegaConf.get_type(node)
    if dataclasses.is_dataclass(schema):
        return [f.name for f in dataclasses.fields(schema)]
    return group_keys(group)


def unknown_keys(cfg: DictConfig) -> list[tuple[str, list[str]]]:
    """``(key, known keys of its node)`` for every key no schema of its group defines."""
    found = []
    for group in SCHEMAS:
        node = cfg.get(group) if isinstance(cfg, DictConfig) else None
        if not isinstance(node, DictConfig):
            continue
        known = _node_keys(node, group)
        found += [(f"{group}.{key}", known) for key in node if key not in known]
    return found


def suggestion(key: str, known: list[str]) -> str:
    """``did you mean <group>.<key>?`` for the closest known key, else the known keys.

    A key only another option of the group has (``optimizer.momentum`` with
    ``optimizer=adam``) is suggested with the options that have it.
    """
    group, _, name = key.partition(".")
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean {group}.{close[0]}?"
    elsewhere = difflib.get_close_matches(name, group_keys(group), n=1)
    if elsewhere:
        options = [
            option
            for option, schema in SCHEMAS[group].items()
            if elsewhere[0] in {f.name for f in dataclasses.fields(schema)}
        ]
        choices = ", ".join(f"{group}={option}" for option in options)
        return f"did you mean {group}.{elsewhere[0]}? (only {choices} has it)"
    return f"the {group} keys are: {', '.join(known)}"


def check_known_keys(cfg: Any) -> None:
    """Raises ``ConfigError`` for the first key hpfw's groups do not define."""
    for key, known in unknown_keys(cfg):
        raise ConfigError(key, f"hpfw reads no such key; {suggestion(key, known)}")
