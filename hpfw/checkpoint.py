"""Trainer state on disk with Orbax: ``DIR/epoch_<n>/`` checkpoints and their metadata.

(Provisional copy of the lead's API, to be replaced by main's version on merge.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orbax.checkpoint as ocp

_META = "hpfw_metadata.json"


def save(directory: str | Path, state: Any, metadata: dict) -> Path:
    path = Path(directory).resolve() / f"epoch_{int(metadata['epoch'])}"
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, state, force=True)
        checkpointer.wait_until_finished()
    (path / _META).write_text(json.dumps(metadata))
    return path


def latest(directory: str | Path, before: int | None = None) -> tuple[int, Path] | None:
    found = [
        (int(p.name[6:]), p)
        for p in Path(directory).glob("epoch_*")
        if p.name[6:].isdigit() and (before is None or int(p.name[6:]) < before)
    ]
    return max(found) if found else None


def restore(path: str | Path, abstract_state: Any) -> Any:
    with ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(Path(path).resolve(), abstract_state)


def read_metadata(path: str | Path) -> dict:
    return json.loads((Path(path) / _META).read_text())
