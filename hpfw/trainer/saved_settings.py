"""A checkpoint carries the settings of the run that saved it, and a run that reads it takes them.

A saved trainer state only makes sense with the model, optimizer,
regularization, data and trainer settings it was trained with. ``record``
writes them into the checkpoint's metadata; ``adopt`` sets them on the config
of a run that continues from the checkpoint (``trainer.checkpoint_dir``) or
evaluates it (``generation.checkpoint``), so the user repeats none of them. A
setting the user *gave* with another value is a one-line error naming both
values.

What the user gave is the current Hydra job's command-line overrides, which
hpfw's app hands over with ``given_overrides`` (a context variable: a job's
own thread only). Without them (a direct Python call, the trials a launch
trains together) every value that differs is treated as given.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from hpfw.config import SCHEMAS
from hpfw.errors import ConfigError
from hpfw.values import plain

log = logging.getLogger("hpfw")

GROUPS = ("model", "optimizer", "regularization", "data")
# The trainer settings a state depends on; device, caches and directories are the reader's.
TRAINER_KEYS = ("epochs", "batch_size", "seed", "precision", "schedule_epochs")

_GIVEN: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar(
    "hpfw_given_overrides", default=None
)


@contextlib.contextmanager
def given_overrides(overrides: Sequence[str]) -> Iterator[None]:
    """Within this block, ``adopt`` knows which keys the user set (``key=value`` lines)."""
    keys = frozenset(line.lstrip("+~").split("=", 1)[0] for line in overrides)
    token = _GIVEN.set(keys)
    try:
        yield
    finally:
        _GIVEN.reset(token)


def record(cfg: Any) -> dict[str, dict[str, Any]]:
    """The settings of ``cfg`` a checkpoint keeps: plain JSON values, per group."""
    saved = {
        group: OmegaConf.to_container(cfg[group], resolve=True, enum_to_str=True)
        for group in GROUPS
    }
    trainer = {key: plain(cfg.trainer.get(key)) for key in TRAINER_KEYS}
    trainer["schedule_epochs"] = trainer["schedule_epochs"] or trainer["epochs"]
    saved["trainer"] = trainer
    return saved


def _given(key: str, given: frozenset[str] | None) -> bool:
    if given is None:
        return True
    group, _, name = key.partition(".")
    # A group override (model=cnn) chooses the option (its name), not each value.
    return key in given or (name == "name" and group in given)


def _current(cfg: DictConfig, group: str, key: str) -> Any:
    value = plain(cfg[group].get(key))
    if group == "trainer" and key == "schedule_epochs":
        return value or plain(cfg.trainer.epochs)  # null: as long as the run
    return value


def adopt(cfg: DictConfig, saved: dict[str, Any], source: str, skip: Sequence[str] = ()) -> None:
    """Sets ``cfg`` to the settings ``saved`` in the checkpoint that ``source`` names.

    ``skip`` lists keys the reading run decides itself (``trainer.epochs`` when
    it continues training). Raises ``ConfigError`` for a value the user gave
    that differs from the saved one.
    """
    given = _GIVEN.get()
    taken = []
    for group, values in saved.items():
        if group not in cfg or not isinstance(values, dict):
            continue
        name = values.get("name")
        if name is not None and name != plain(cfg[group].get("name")):
            _conflict_or_take(f"{group}.name", plain(cfg[group].get("name")), name, source, given)
            _replace_group(cfg, group, values)
            taken.append(f"{group}={name}")
            continue
        for key, value in values.items():
            full = f"{group}.{key}"
            current = _current(cfg, group, key)
            if full in skip or current == value:
                continue
            _conflict_or_take(full, current, value, source, given)
            with open_dict(cfg[group]):
                cfg[group][key] = value
            taken.append(f"{full}={value}")
    if taken:
        log.info("%s: took the saved run's settings %s", source, " ".join(taken))


def _conflict_or_take(key: str, current: Any, value: Any, source: str, given: Any) -> None:
    if _given(key, given):
        where = "on the command line" if given is not None else "here"
        raise ConfigError(
            key,
            f"{current!r} {where}, but {source} was saved with {value!r}; "
            "leave it out to use the saved value",
        )


def _replace_group(cfg: DictConfig, group: str, values: dict[str, Any]) -> None:
    """Puts the saved option of ``group`` in place, typed by its schema when hpfw has one."""
    schema = SCHEMAS.get(group, {}).get(str(values.get("name")))
    node = OmegaConf.structured(schema) if schema is not None else OmegaConf.create({})
    with open_dict(cfg):
        cfg[group] = OmegaConf.merge(node, values)
