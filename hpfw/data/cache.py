"""An on-disk cache of prepared datasets, so a new process need not import scikit-learn.

Importing scikit-learn (which imports scipy.stats) takes ~1.3 s on a 2-core CPU:
more than a whole trial of the default MLP, paid again by every ``hpfw`` run,
every launcher worker and every test subprocess. The prepared splits of the
bundled digits dataset are ~0.5 MB, so the first process stores them here and
the next ones read them back.

An entry's key hashes what decides its contents: the dataset's parameters, the
scikit-learn and NumPy versions and the source code of the functions that build
it, so a change to the splitting code or an upgrade never serves stale splits.
``HPFW_DATA_CACHE_DIR`` moves the cache (default ``$XDG_CACHE_HOME/hpfw/data``,
i.e. ``~/.cache/hpfw/data``); set to the empty string it is off. The cache is
best effort: an unreadable or unwritable entry only means the dataset is built
again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ENV = "HPFW_DATA_CACHE_DIR"


def cache_dir() -> Path | None:
    """Where entries live, or ``None`` when the cache is off."""
    raw = os.environ.get(ENV)
    if raw is not None:
        return Path(raw).expanduser() if raw.strip() else None
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "hpfw" / "data"


def entry_key(name: str, params: Mapping[str, Any], code: tuple[Callable[..., Any], ...]) -> str:
    """A file name for dataset ``name`` built by ``code`` with ``params``."""
    try:
        sklearn = importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        sklearn = "none"
    parts = [name, repr(sorted(params.items())), sklearn, np.__version__]
    parts += [inspect.getsource(fn) for fn in code]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]
    return f"{name}-{digest}.npz"


def load(key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or ``None`` (off, missing or unreadable)."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        with np.load(directory / key, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except Exception:  # missing, truncated or corrupt: build the dataset again
        return None


def store(key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Stores ``arrays`` under ``key``, atomically; silently does nothing if it cannot."""
    directory = cache_dir()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a concurrent reader sees all of it or nothing.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, directory / key)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return
