"""``data=digits``: scikit-learn's 8x8 digits, split and standardised, cached in memory and on disk.

Importing scikit-learn takes longer than a whole default trial, so the prepared
splits are stored on disk (``hpfw.data.cache``) and a new process reads them
back without importing it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from hpfw.data import cache
from hpfw.data.dataset import NPZ_KEYS, Dataset, from_arrays
from hpfw.data.fields import fractions, split_seed
from hpfw.data.registry import register_dataset
from hpfw.data.splits import carve, standardise

# Several configs (e.g. a sweep over split_seed) may be alive at once; a few
# entries keep them all without holding on to arbitrarily many copies.
_CACHE_SIZE = 8


def load_digits(cfg: Any, context_length: int | None = None) -> Dataset:
    """The digits dataset for ``cfg``'s fractions and split seed (``context_length``: unused)."""
    val_fraction, test_fraction = fractions(cfg)
    return _cached(val_fraction, test_fraction, split_seed(cfg))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached(val_fraction: float, test_fraction: float, split_seed: int) -> Dataset:
    """Digits from the in-process cache, else the on-disk one, else scikit-learn."""
    params = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": split_seed}
    key = cache.entry_key("digits", params, (_build, carve, standardise))
    stored = cache.load(key)
    if stored is not None and set(NPZ_KEYS) <= stored.keys() and "num_classes" in stored:
        return from_arrays("digits", stored)
    dataset = _build(val_fraction, test_fraction, split_seed)
    arrays = {k: getattr(dataset, k) for k in NPZ_KEYS}
    cache.store(key, arrays | {"num_classes": np.asarray(dataset.num_classes)})
    return dataset


def _build(val_fraction: float, test_fraction: float, split_seed: int) -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    # Images with a trailing channel axis, so convolutional models need no reshaping.
    x = digits.images.astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int32)
    splits = {"train": (x, y)}
    num_classes = int(y.max()) + 1
    splits = carve(
        splits, val_fraction, test_fraction, split_seed, num_classes, "data.name: digits"
    )
    return standardise("digits", splits, num_classes)


register_dataset("digits", load_digits, clear=_cached.cache_clear)
