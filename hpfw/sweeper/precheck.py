"""Configuration errors of a whole sweep: found before the first trial, or seen in the first.

A sweep whose every trial would fail the same way should say so once and
stop, not fail trial after trial up to ``max_failures``. Before the first
trial, ``precheck`` composes one job's config (the fixed overrides with the
first option of each swept group) as Hydra's basic sweeper validates a batch
(a bad override raises Hydra's own error), and hands it to the task
function's ``check_config`` when it has one (hpfw's app rejects keys it does
not read). After a trial, ``same_for_every_trial`` tells whether its error
is a ``ConfigError`` that no swept value touches.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from hpfw.errors import ConfigError
from hpfw.search.overrides import ParsedSweep


@runtime_checkable
class ChecksConfig(Protocol):
    """A task function that can check a composed job config before any job runs."""

    def __call__(self, cfg: Any) -> Any: ...

    def check_config(self, cfg: Any) -> None:
        """Raises an ``HpfwError`` (one line) when ``cfg`` cannot run as any trial."""
        ...


def sample_overrides(sweep: ParsedSweep) -> list[str]:
    """One job's overrides: the fixed ones, the first option of each swept group, and the
    first value of each swept key the sweep adds (``+key=...``). Other swept keys are left
    out: a conditional one (``optimizer.momentum``) need not exist with the first options."""
    first = [
        p.override(p.dist.from_unit(0.0)) for p in sweep.params.values() if p.is_group or p.appends
    ]
    return [*sweep.fixed, *first]


def precheck(config_loader: Any, master: DictConfig, sweep: ParsedSweep, task: Any) -> None:
    """Composes one job of ``sweep`` and lets the task function check it.

    Raises Hydra's composition error (``boo=bar`` for a key the config lacks)
    or the task's ``HpfwError``, before anything is launched. When groups are
    swept, a composition error may belong to the first options only: the
    trials then report it, each for its own options.
    """
    try:
        cfg = config_loader.load_sweep_config(master, sample_overrides(sweep))
    except (HydraException, OmegaConfBaseException):
        if any(p.is_group for p in sweep.params.values()):
            return
        raise
    if not isinstance(task, ChecksConfig):
        return
    app = copy.deepcopy(cfg)
    with read_write(app), open_dict(app):
        del app["hydra"]
    task.check_config(app)


def touches(key: str, names: Mapping[str, Any] | set[str]) -> bool:
    """Whether config ``key`` is one of ``names``, inside one, or holds one."""
    return any(key == n or key.startswith(n + ".") or n.startswith(key + ".") for n in names)


def same_for_every_trial(error: BaseException, swept: Mapping[str, Any]) -> bool:
    """Whether ``error`` would recur in every trial: a ``ConfigError`` of an unswept key."""
    return isinstance(error, ConfigError) and not touches(error.key, swept)
