"""What ``hpfw --help`` and shell completion show of the config groups: hpfw's, not its internals.

Hydra's help template offers ``$APP_CONFIG_GROUPS``, which lists every group,
hpfw's ``schema/*`` groups (the typed configs the YAML options extend)
included. hpfw's template (conf/hydra/help/hpfw.yaml) instead interpolates
``${hpfw.config_groups:}``, which this module resolves from Hydra's config
loader: the real groups with their options, the default marked, the options
another task owns named as such, and the two Hydra groups a user picks
(``hydra/sweeper``, ``hydra/launcher``). ``--hydra-help`` stays Hydra's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hpfw.sweeper.settings import exclusions
from hpfw.values import one_line, plain

GROUPS_RESOLVER = "hpfw.config_groups"
HIDDEN = ("schema",)  # groups (and their subgroups) a user never picks
HYDRA_SHOWN = ("hydra/sweeper", "hydra/launcher")  # the rest: hpfw --hydra-help


def is_hidden(group: str) -> bool:
    """Whether ``group`` (``schema``, ``schema/model``, ``+schema``...) is internal to hpfw."""
    name = group.lstrip("+~")
    return any(name == h or name.startswith((f"{h}/", f"{h}=", f"{h}.")) for h in HIDDEN)


def format_groups(
    groups: Mapping[str, Iterable[str]],
    choices: Mapping[str, Any],
    excluded: Mapping[str, Mapping[str, str]],
) -> str:
    """One line per group: ``name: option*, option; task=lm only: option``.

    ``*`` marks the option this config picks; a group it picks nothing from
    is shown as ``+group`` (``+search=mlp`` adds it). Options in ``excluded``
    (group -> option -> why) are listed last under their reason.
    """
    lines = []
    for group, options in groups.items():
        chosen = choices.get(group)
        name = group if group in choices else f"+{group}"
        left = dict(excluded.get(group, {}))
        fitting = [f"{o}*" if o == chosen else o for o in options if o not in left]
        by_reason: dict[str, list[str]] = {}
        for option in options:
            if option in left:
                by_reason.setdefault(left[option] or "not for this config", []).append(option)
        text = ", ".join(fitting)
        text += "".join(f"; {why}: {', '.join(opts)}" for why, opts in by_reason.items())
        lines.append(f"  {name}: {text}")
    return "\n".join(lines)


def visible_groups(repo: Any, parent: str = "") -> dict[str, list[str]]:
    """hpfw's groups and the Hydra groups a user picks, with their options, sorted.

    ``repo`` is Hydra's config repository (``get_group_options(name, kind)``).
    """
    from hydra.core.object_type import ObjectType

    found: dict[str, list[str]] = {}
    for child in sorted(repo.get_group_options(parent, ObjectType.GROUP)):
        group = f"{parent}/{child}" if parent else child
        if is_hidden(group) or (group.startswith("hydra") and group not in HYDRA_SHOWN):
            if group == "hydra":
                found.update(visible_groups(repo, group))
            continue
        options = sorted(repo.get_group_options(group, ObjectType.CONFIG))
        if options:
            found[group] = options
        found.update(visible_groups(repo, group))
    if not parent:  # Hydra's groups after hpfw's
        found = {k: found[k] for k in sorted(found, key=lambda g: (g.startswith("hydra/"), g))}
    return found


def config_groups(*, _root_: Any) -> str:
    """The ``hpfw.config_groups`` resolver: the group list of hpfw's help page.

    Runs while Hydra renders ``--help``, when Hydra's global instance holds the
    config loader. Its repository is copied once here (each public
    ``get_group_options`` call copies it again: seconds for hpfw's groups), with
    the primary config and the overrides, so ``hydra.searchpath`` options show.
    """
    from hydra.core.global_hydra import GlobalHydra

    instance = GlobalHydra.instance()
    if not instance.is_initialized():
        return "  (listed by hpfw --help)"
    try:
        choices = _plain(_root_, "hydra.runtime.choices")
        from omegaconf import OmegaConf

        from hpfw.tasks import glob_exclude

        task = plain(OmegaConf.select(_root_, "task", default="classify"))
        excluded = exclusions(glob_exclude(str(task)))
        config_name = _root_.hydra.job.config_name
        overrides = [*_root_.hydra.overrides.hydra, *_root_.hydra.overrides.task]
        loader = instance.config_loader()
        _, repo = loader._parse_overrides_and_create_caching_repo(config_name, overrides)
        return format_groups(visible_groups(repo), choices, excluded)
    except Exception as error:  # the help page must print whatever a user's config holds
        return f"  (could not list them: {one_line(error)}; hpfw --hydra-help lists every group)"


def _plain(root: Any, key: str) -> dict[str, Any]:
    from omegaconf import OmegaConf

    value = OmegaConf.select(root, key, default=None)
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return dict(value or {})


def without_hidden(completions: str) -> str:
    """Shell-completion output without hpfw's internal groups (one or more words a line)."""
    lines = []
    for line in completions.splitlines():
        words = [w for w in line.split(" ") if not is_hidden(w)]
        if any(words) or not line:
            lines.append(" ".join(words))
    return "\n".join(lines) + ("\n" if completions.endswith("\n") else "")
