"""A user's text file as a character-level corpus: one token per distinct character.

The vocabulary is every character of the file (so validation and test text
never hold an unknown token). The file is split into contiguous blocks (train,
then validation, then test at the end), so no window straddles two splits, and
each block is cut into windows of ``context_length + 1`` characters that
overlap by one: every character but a block's first is a target exactly once.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from hpfw.data import register_dataset, resolve_data_path
from hpfw.errors import ConfigError, DataError
from hpfw.lm.dataset import LMDataset, field, window_length, windows

MAX_VOCAB = 4096  # distinct characters; more suggests a binary file, not text


def load_text(cfg: Any, context_length: int | None) -> LMDataset:
    """``data=text``: the file at ``cfg.path`` as windows of ``context_length`` characters."""
    length = window_length(cfg, context_length)
    path = _resolve(field(cfg, "path"))
    val, test = float(field(cfg, "val_fraction")), float(field(cfg, "test_fraction"))
    for key, value in (("val_fraction", val), ("test_fraction", test)):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"data.{key}", f"got {value!r}; allowed: a number in (0, 1)")
    if val + test >= 1.0:
        raise ConfigError(
            "data.val_fraction",
            f"val_fraction + test_fraction = {val + test:g}; allowed: a sum below 1",
        )
    stat = path.stat()
    return _cached(str(path), stat.st_mtime_ns, stat.st_size, val, test, length)


def _resolve(raw: Any) -> Path:
    return resolve_data_path(raw, "a path to a UTF-8 text file")


@functools.lru_cache(maxsize=8)
def _cached(
    path: str, mtime_ns: int, size: int, val: float, test: float, context_length: int
) -> LMDataset:
    del mtime_ns, size  # only part of the cache key: a rewritten file is read again
    where = f"data.path: file '{path}'"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    vocab = tuple(sorted(set(text)))
    if len(vocab) < 2:
        raise DataError(f"{where} has {len(vocab)} distinct characters; allowed: at least 2")
    if len(vocab) > MAX_VOCAB:
        raise DataError(
            f"{where} has {len(vocab)} distinct characters; allowed: at most {MAX_VOCAB}"
        )
    lookup = {c: i for i, c in enumerate(vocab)}
    tokens = np.fromiter((lookup[c] for c in text), np.int32, len(text))

    n = len(tokens)
    n_test = math.floor(test * n)
    n_val = math.floor(val * n)
    bounds = {"train": (0, n - n_val - n_test), "val": (n - n_val - n_test, n - n_test)}
    bounds["test"] = (n - n_test, n)
    window = context_length + 1
    # Each split needs one whole window; the smallest split decides how long the file must be.
    needed = math.ceil(window / min(val, test, 1.0 - val - test))
    splits: dict[str, np.ndarray] = {}
    for split, (lo, hi) in bounds.items():
        block = tokens[lo:hi]
        count = (len(block) - 1) // context_length
        if count < 1:
            raise DataError(
                f"{where} has {n} characters, too short for model.context_length="
                f"{context_length} with val_fraction={val:g} and test_fraction={test:g}: "
                f"its {split} block has {len(block)} < {window}; allowed: about {needed} "
                "characters or more, or a shorter model.context_length"
            )
        starts = np.arange(count) * context_length
        docs = block[starts[:, None] + np.arange(window)]
        splits[f"x_{split}"], splits[f"y_{split}"] = windows(docs)
    return LMDataset(name="text", num_classes=len(vocab), vocab=vocab, source=None, **splits)


register_dataset("text", load_text, windowed=True, clear=_cached.cache_clear)
