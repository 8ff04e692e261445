"""Sweeper configs in Hydra's ConfigStore: ``hydra/sweeper=<name>`` for every hpfw strategy.

Knows no strategy by name. Every entry point of the ``hpfw.strategies`` group
(hpfw's own ``grid``, ``random``, ``bayes``, ``sha``, ``hyperband`` and any
plugin's) gets a structured config: the settings every sweep has
(``hpfw.sweeper.settings.SweepSettings``) plus the strategy's options, read
from ``<name>.yaml`` beside the strategy's module, typed by their defaults.
A typo in an option is then a compose-time error, and the YAML's comments
document each option. The strategy's module itself is not imported: Hydra
imports this module at every start.

No ``from __future__ import annotations`` here: Hydra's plugin scan executes this
module outside ``sys.modules``, where dataclasses cannot resolve string annotations.
"""

import re
import typing
from dataclasses import field, make_dataclass
from importlib.metadata import EntryPoint, entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml
from hydra.core.config_store import ConfigStore

from hpfw.sweeper.settings import SweepSettings

ENTRY_POINT_GROUP = "hpfw.strategies"  # mirrors hpfw.search.registry, without importing it
MODULE = "hydra_plugins.hpfw_sweeper.hpfw_sweeper"
GENERIC = "hpfw"  # hydra/sweeper=hpfw hydra.sweeper.strategy=<name>: any in-process strategy
SETTING_TYPES = typing.get_type_hints(SweepSettings)


def options_file(module: str, name: str) -> Optional[Path]:
    """``<the directory of module>/<name>.yaml``, found without importing ``module``.

    Only the top-level package's location is looked up; the rest of the dotted
    path is walked on disk, so no package ``__init__`` runs.
    """
    parts = module.split(".")
    try:
        spec = find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not spec.submodule_search_locations:  # a single-file module
        folder = Path(spec.origin).parent if spec.origin else None
    else:
        folder = None
        for root in map(Path, spec.submodule_search_locations):
            here = root
            for part in parts[1:]:
                if (here / part).is_dir():
                    here = here / part
                elif not (here / f"{part}.py").is_file():
                    here = None
                    break
            if here is not None:
                folder = here
                break
    path = folder / f"{name}.yaml" if folder is not None else None
    return path if path is not None and path.is_file() else None


def _option_type(value: Any) -> Any:
    """The type an option's default implies; null (or a container) accepts any value."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, (int, float, str)):
        return type(value)
    return Any


def class_name(name: str) -> str:
    """The Sweeper class of ``hydra/sweeper=<name>``: ``HpfwGridSweeper`` for grid, ...

    One class per strategy (hpfw_sweeper.py makes them) so that Hydra's
    ``--info plugins`` lists every hpfw sweeper; ``HpfwSweeper`` is the generic one.
    """
    if name == GENERIC:
        return "HpfwSweeper"
    title = "".join(part.title() for part in re.split(r"[^0-9A-Za-z]+", name) if part)
    return f"Hpfw{title}Sweeper"


def strategy_names() -> List[str]:
    """The installed strategies' names (``hpfw.strategies`` entry points), read, not imported."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def sweeper_conf(name: str, defaults: Dict[str, Any], target: Optional[str] = None) -> type:
    """A structured config for ``hydra/sweeper=<name>``: the settings plus ``defaults``."""
    fields = [
        ("_target_", str, field(default=target or f"{MODULE}.{class_name(name)}")),
        ("strategy", str, field(default=name)),
    ]
    for key, value in defaults.items():
        kind = SETTING_TYPES.get(key, _option_type(value))
        fields.append((key, kind, field(default=value)))
    title = "".join(part.title() for part in name.replace("-", "_").split("_"))
    return make_dataclass(f"{title}SweeperConf", fields, bases=(SweepSettings,))


def _defaults(ep: EntryPoint) -> Dict[str, Any]:
    path = options_file(ep.module, ep.name)
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a strategy's options file is a mapping of option: default")
    return {str(k): v for k, v in data.items()}


def register() -> None:
    cs = ConfigStore.instance()
    # hydra/sweeper=hpfw hydra.sweeper.strategy=<name>: strategies registered in-process.
    generic = sweeper_conf("random", {}, target=f"{MODULE}.{class_name(GENERIC)}")
    cs.store(group="hydra/sweeper", name=GENERIC, node=generic, provider="hpfw")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        provider = ep.dist.name if ep.dist else "hpfw"
        node = sweeper_conf(ep.name, _defaults(ep))
        cs.store(group="hydra/sweeper", name=ep.name, node=node, provider=provider)


register()
