"""Trainer checkpoints on disk: Orbax for the arrays, a JSON file for what they are.

A checkpoint directory holds one subdirectory per saved epoch, ``epoch_<n>/``,
each with Orbax's files under ``state/`` and ``hpfw.json`` (the epoch, the
static signature the state belongs to, and the run's final metrics). Orbax
writes to a temporary name and renames when done, so a run killed while saving
leaves no half-written ``epoch_<n>``; ``hpfw.json`` is written after that
(to a temporary file, fsynced, then renamed: it is there whole or not at all),
and a directory without it is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

# Orbax logs every step of every save at INFO through absl: a dozen lines per trial.
logging.getLogger("absl").setLevel(logging.WARNING)

METADATA = "hpfw.json"
_EPOCH_DIR = re.compile(r"^epoch_(\d+)$")
# Orbax coordinates a save through process-wide signals and temporary
# directories. When two threads save or restore at once (trials side by side in
# hpfw.trainer.groups), a save can fail ("Directory not empty") or wait minutes for the
# other thread's signal and time out. So one save or restore runs at a time;
# each takes milliseconds.
_ORBAX = threading.Lock()


def epoch_dir(directory: str | Path, epoch: int) -> Path:
    return Path(directory).expanduser().resolve() / f"epoch_{epoch}"


def save(directory: str | Path, state: Any, metadata: dict[str, Any]) -> Path:
    """Saves ``state`` (a pytree of arrays) as ``directory/epoch_<metadata["epoch"]>``.

    An existing checkpoint of the same epoch is replaced (a trial run again
    after a crash saves the same epoch twice).
    """
    path = epoch_dir(directory, int(metadata["epoch"]))
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    host_state = jax.device_get(state)
    with _ORBAX, ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path / "state", host_state)
        checkpointer.wait_until_finished()
    _write_atomically(path / METADATA, json.dumps(metadata, indent=2) + "\n")
    return path


def _write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` so that a crash leaves the whole file or none of it.

    A process killed while writing ``hpfw.json`` in place would leave a
    truncated file that marks the checkpoint complete but cannot be read.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)  # the rename itself survives a power loss
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def saved_epochs(directory: str | Path) -> list[int]:
    """The epochs with a complete checkpoint in ``directory``, ascending."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        return []
    epochs = []
    for child in root.iterdir():
        match = _EPOCH_DIR.match(child.name)
        if match and (child / METADATA).is_file():
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def latest(directory: str | Path, before: int | None = None) -> tuple[int, Path] | None:
    """``(epoch, path)`` of the latest checkpoint, only those before ``before`` if given."""
    epochs = [e for e in saved_epochs(directory) if before is None or e < before]
    return (epochs[-1], epoch_dir(directory, epochs[-1])) if epochs else None


def read_metadata(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / METADATA).read_text())


def restore(path: str | Path, abstract_state: Any) -> Any:
    """Restores the state saved at ``path`` into the structure of ``abstract_state``.

    ``abstract_state`` is a pytree of ``jax.ShapeDtypeStruct`` (for instance
    from ``jax.eval_shape``); the arrays come back on the default device.
    """
    with _ORBAX, ocp.StandardCheckpointer() as checkpointer:
        return checkpointer.restore(Path(path).resolve() / "state", abstract_state)
