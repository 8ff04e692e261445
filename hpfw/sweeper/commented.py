"""The sweeper's config with a comment on every option: what ``hpfw --cfg hydra`` prints.

OmegaConf drops comments, so Hydra's ``--cfg hydra`` shows the sweeper's
options bare. The ``hpfw`` command passes that output through ``annotate``,
which adds each option's comment from where it is written: the fields of
``SweepSettings`` (hpfw/sweeper/settings.py) for the settings every sweep
has, and the strategy's YAML file beside its module for the strategy's own
options (whose first comment lines also head the block). Both are read as
text, so the comments have one source.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import re
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

from hpfw.search.registry import ENTRY_POINT_GROUP
from hpfw.sweeper.settings import SweepSettings

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_]\w*):(?P<rest>.*)$")
_COMMENTED = re.compile(r"^ *(?P<key>[A-Za-z_]\w*):[^#]*#\s?(?P<comment>.*)$")
TARGET_COMMENT = "the Sweeper class Hydra instantiates: one per strategy"


def settings_comments() -> dict[str, str]:
    """Each ``SweepSettings`` field's comment, by field name: its end-of-line comment, or
    else the comment lines right above it."""
    found: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(SweepSettings).splitlines():
        text = line.strip()
        if text.startswith("#"):
            above.append(text.lstrip("# "))
            continue
        commented, field = _COMMENTED.match(line), _KEY.match(line)
        if commented and commented["key"] != "names":
            found[commented["key"]] = commented["comment"].strip()
        elif field and above and field["key"] != "names":
            found[field["key"]] = " ".join(above)
        above = []
    return found


def options_file(name: str) -> Path | None:
    """``<name>.yaml`` beside the module of strategy ``name``'s entry point, if there is one."""
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        spec = importlib.util.find_spec(ep.module)
        if spec is not None and spec.origin:
            path = Path(spec.origin).parent / f"{name}.yaml"
            return path if path.is_file() else None
    return None


def strategy_comments(name: str) -> tuple[list[str], dict[str, str]]:
    """The leading comment lines of strategy ``name``'s YAML file, and each option's comment."""
    path = options_file(name)
    if path is None:
        return [], {}
    lines = path.read_text(encoding="utf-8").splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    options = {}
    for line in lines:
        match = _COMMENTED.match(line)
        if match:
            options[match["key"]] = match["comment"].strip()
    return header, options


def _block(lines: list[str]) -> tuple[int, int, int] | None:
    """``(first, end, indent)`` of the sweeper's keys in Hydra's ``--cfg`` output."""
    for i, line in enumerate(lines):
        if line.strip() == "# @package hydra.sweeper":
            return i + 1, len(lines), 0
    for i, line in enumerate(lines):
        if line == "hydra:":
            for j in range(i + 1, len(lines)):
                if lines[j] == "  sweeper:":
                    end = j + 1
                    while end < len(lines) and lines[end].startswith("    "):
                        end += 1
                    return j + 1, end, 4
                if lines[j] and not lines[j].startswith(" "):
                    break
    return None


def annotate(text: str) -> str:
    """``text`` (Hydra's ``--cfg hydra`` or ``--cfg all`` output) with the sweeper commented."""
    lines = text.splitlines()
    block = _block(lines)
    if block is None:
        return text
    first, end, indent = block
    keys = {}
    for i in range(first, end):
        match = _KEY.match(lines[i])
        if match and len(match["indent"]) == indent:
            keys[i] = match
    strategy = next((m["rest"].strip() for m in keys.values() if m["key"] == "strategy"), "")
    header, options = strategy_comments(strategy)
    comments = {**settings_comments(), "_target_": TARGET_COMMENT, **options}
    column = min(max((len(lines[i]) for i in keys), default=0) + 2, 48)
    for i, match in keys.items():
        comment = comments.get(match["key"])
        if comment and "#" not in match["rest"]:
            gap = " " * max(2, column - len(lines[i]))
            lines[i] = f"{lines[i]}{gap}# {comment}"
    pad = " " * indent
    lines[first:first] = [pad + line for line in header]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


@contextlib.contextmanager
def commented_output() -> Iterator[None]:
    """Prints what the block printed, with the sweeper's options commented."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        sys.stdout.write(annotate(buffer.getvalue()))
        sys.stdout.flush()
