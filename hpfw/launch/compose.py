"""Job configs without recomposing: one composition per choice of config groups.

Hydra composes every job from scratch (about 70 ms for hpfw's config) and then
deep-copies it twice more to run it, though the trials of a sweep usually
differ only in values. Composition has two stages: the defaults list (decided
by config-group overrides) and the value overrides applied to the merged
config. ``JobComposer`` runs the first stage once per distinct set of group
overrides and replays only the second stage per trial, on a copy of the small
application config, with Hydra's own override code, so the result equals
Hydra's (``tests/test_launcher.py`` checks this on a table of override sets).
The large ``hydra`` node is shared by the trials of one group choice and only
its per-job fields are set for each job.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Hydra's own second composition stage and dirname helper (private modules): their
# semantics for +key, ++key, ~key, type checks and dirnames are what must be matched.
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


@dataclass
class _Base:
    """One composition for one choice of config groups."""

    hydra_view: DictConfig  # what HydraConfig holds: {hydra: ...}, patched per job
    hydra_container: dict[str, Any]  # the hydra node as plain data, for hydra.yaml
    app: DictConfig  # the application config without `hydra`, copied per job
    yaml_parts: dict[str, str] = field(default_factory=dict)  # hydra.yaml pieces, by key


@dataclass
class ComposedJob:
    """Everything needed to run one job and write its ``.hydra`` files."""

    task_cfg: DictConfig  # the job's own config, as the task function receives it
    base: _Base
    overrides: list[str]  # application overrides (hydra.overrides.task)
    hydra_overrides: list[str]  # hydra.overrides.hydra
    override_dirname: str


class JobComposer:
    """Composes job configs for ``master_config``'s sweep, caching by group overrides."""

    def __init__(self, config_loader: Any, master_config: DictConfig) -> None:
        self.config_loader = config_loader
        self.master = master_config
        self.parser = OverridesParser.create(config_loader=config_loader)
        self._bases: dict[tuple[str, ...], _Base] = {}
        self._is_group: dict[str, bool] = {}

    def _group(self, override: Override) -> bool:
        """Whether Hydra treats ``override`` as a defaults-list (config-group) override."""
        if isinstance(override.value(), dict):
            return False
        name = override.key_or_group
        if name not in self._is_group:
            self._is_group[name] = bool(self.config_loader.get_group_options(name))
        return self._is_group[name]

    def _base(self, groups: tuple[str, ...], hydra_values: tuple[str, ...]) -> _Base:
        key = groups + hydra_values
        base = self._bases.get(key)
        if base is None:
            full = self.config_loader.load_sweep_config(self.master, list(key))
            app = copy.deepcopy(full)
            with read_write(app), open_dict(app):
                del app["hydra"]
            OmegaConf.set_readonly(full.hydra, False)
            view = OmegaConf.masked_copy(full, "hydra")
            # Writable once and for all where jobs write: toggling flags on the whole
            # hydra node for every job would walk its entire tree each time.
            for node in (view.hydra.job, view.hydra.overrides, view.hydra.runtime):
                OmegaConf.set_readonly(node, False)
                OmegaConf.set_struct(node, False)
            data = OmegaConf.to_container(full.hydra, resolve=False, enum_to_str=True)
            base = _Base(view, data, app)
            self._bases[key] = base
        return base

    def compose(self, overrides: Sequence[str]) -> ComposedJob:
        """Parses and applies ``overrides``; equal to Hydra's ``load_sweep_config``."""
        parsed = self.parser.parse_overrides(list(overrides))
        groups = tuple(o.input_line for o in parsed if self._group(o))
        # Value overrides of the hydra node are rare in a sweep: they join the cached
        # composition's key rather than being replayed on the shared node.
        hydra_values = tuple(
            o.input_line for o in parsed if o.is_hydra_override() and not self._group(o)
        )
        values = [o for o in parsed if not self._group(o) and not o.is_hydra_override()]
        base = self._base(groups, hydra_values)
        task_cfg = copy.deepcopy(base.app)
        ConfigLoaderImpl._apply_overrides_to_config(values, task_cfg)
        OmegaConf.copy_cache(from_config=self.master, to_config=task_cfg)
        app = [o for o in parsed if not o.is_hydra_override()]
        dirname = base.hydra_view.hydra.job.config.override_dirname
        return ComposedJob(
            task_cfg=task_cfg,
            base=base,
            overrides=[o.input_line for o in app],
            # Unresolved: an override may hold an interpolation (subdir=d_${hydra.job.num}).
            hydra_overrides=OmegaConf.to_container(self.master.hydra.overrides.hydra)
            + [o.input_line for o in parsed if o.is_hydra_override()],
            override_dirname=get_overrides_dirname(
                overrides=app,
                kv_sep=dirname.kv_sep,
                item_sep=dirname.item_sep,
                exclude_keys=list(dirname.exclude_keys),
            ),
        )


def activate(job: ComposedJob, num: int, job_dir_key: str, job_subdir_key: str) -> str:
    """Sets the shared hydra node's per-job fields for job ``num``; returns its output dir."""
    view = job.base.hydra_view
    hydra = view.hydra
    hydra.job.num = num
    hydra.job.id = num
    hydra.job.override_dirname = job.override_dirname
    hydra.overrides.task = job.overrides
    hydra.overrides.hydra = job.hydra_overrides
    output_dir = str(OmegaConf.select(view, job_dir_key))
    if job_subdir_key:
        output_dir = os.path.join(output_dir, str(OmegaConf.select(view, job_subdir_key)))
    hydra.runtime.output_dir = os.path.abspath(output_dir)
    return hydra.runtime.output_dir


# The hydra node's keys that change from job to job; the rest is the same for every
# job of one composition, so its YAML is rendered once.
PER_JOB_KEYS = ("job", "overrides", "runtime")


def hydra_container(job: ComposedJob) -> dict[str, Any]:
    """The job's hydra node as plain data (the base's, with this job's fields)."""
    data = dict(job.base.hydra_container)
    hydra = job.base.hydra_view.hydra
    data["job"] = {
        **data["job"],
        "num": hydra.job.num,
        "id": hydra.job.id,
        "override_dirname": job.override_dirname,
    }
    data["overrides"] = {"hydra": list(job.hydra_overrides), "task": list(job.overrides)}
    data["runtime"] = {**data["runtime"], "output_dir": hydra.runtime.output_dir}
    return data


def hydra_yaml(job: ComposedJob, dump: Any, data: dict[str, Any] | None = None) -> str:
    """``hydra.yaml`` for the job: ``dump({"hydra": hydra_container(job)})``, built faster.

    A block mapping's YAML is the concatenation of its keys' YAML, so the keys
    that never change are rendered once per composition and reused. ``data``
    is ``hydra_container(job)`` when the caller already built it.
    """

    def render(key: str, value: Any) -> str:
        return dump({"hydra": {key: value}}).split("\n", 1)[1]

    cache = job.base.yaml_parts
    parts = []
    for key, value in (data if data is not None else hydra_container(job)).items():
        if key in PER_JOB_KEYS:
            parts.append(render(key, value))
            continue
        if key not in cache:
            cache[key] = render(key, value)
        parts.append(cache[key])
    return "hydra:\n" + "".join(parts)
