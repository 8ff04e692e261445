"""``data=npz``: a user's arrays from an ``.npz`` file, checked, split and standardised.

The file holds ``x_train``/``y_train`` and, optionally, ``x_val``/``y_val`` and
``x_test``/``y_test`` (``NPZ_KEYS``); splits it lacks are carved out of the
training data. Every problem with the file is one ``DataError`` line naming it.
"""

from __future__ import annotations

import functools
import os
import zipfile
from typing import Any

import numpy as np

from hpfw.data.dataset import NPZ_KEYS, SPLITS, Dataset
from hpfw.data.fields import field, fractions, resolve_data_path, split_seed
from hpfw.data.registry import register_dataset
from hpfw.data.splits import Splits, carve, standardise
from hpfw.errors import DataError
from hpfw.values import one_line

_CACHE_SIZE = 8  # as for digits: a few configs alive at once


def load_npz(cfg: Any, context_length: int | None = None) -> Dataset:
    """The dataset in ``cfg.path`` (``context_length``: unused)."""
    val_fraction, test_fraction = fractions(cfg)
    seed = split_seed(cfg)
    path = resolve_data_path(field(cfg, "path"), "a path to an .npz file")
    stat = path.stat()
    # mtime and size in the key: a file rewritten between two runs in the same
    # process (tests, notebooks) is read again rather than served stale.
    return _cached(str(path), stat.st_mtime_ns, stat.st_size, val_fraction, test_fraction, seed)


def save_npz(path: str | os.PathLike[str], dataset: Dataset) -> None:
    """Write the six split arrays of ``dataset`` to ``path`` as an ``.npz`` file.

    The file loads back with ``data=npz data.path=...``. Arrays are written as
    they are, i.e. already standardised; standardising again on load is a no-op
    up to float rounding. As with ``np.savez``, ``.npz`` is appended to a path
    that does not end with it.
    """
    np.savez(path, **{key: getattr(dataset, key) for key in NPZ_KEYS})


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached(
    path: str,
    mtime_ns: int,
    size: int,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
) -> Dataset:
    del mtime_ns, size  # only part of the cache key
    arrays = _read_npz(path)
    splits = _check_npz(path, arrays)
    num_classes = int(splits["train"][1].max()) + 1
    _check_label_range(path, splits, num_classes)
    splits = carve(
        splits, val_fraction, test_fraction, split_seed, num_classes, f"data.path: file '{path}'"
    )
    return standardise("npz", splits, num_classes)


def _read_npz(path: str) -> dict[str, np.ndarray]:
    where = f"data.path: file '{path}'"
    try:
        # allow_pickle=False: a data file must never be able to run code.
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{where} is not a valid .npz archive ({one_line(exc)})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{where} is a single .npy array, not an .npz archive")
    with npz:
        unknown = sorted(set(npz.files) - set(NPZ_KEYS))
        if unknown:
            # Reject rather than ignore: a typo such as 'x_valid' would otherwise
            # silently fall back to carving a validation split from training.
            raise DataError(
                f"{where} has unexpected keys {unknown}; allowed: {', '.join(NPZ_KEYS)}"
            )
        arrays: dict[str, np.ndarray] = {}
        for key in npz.files:
            try:
                arrays[key] = np.asarray(npz[key])
            except ValueError as exc:
                if "pickle" in str(exc) or "Object arrays" in str(exc):
                    raise DataError(
                        f"{where}: '{key}' has dtype object, which needs pickle to load; "
                        "allowed: numeric (bool, integer or float) arrays"
                    ) from None
                raise DataError(f"{where}: '{key}' is unreadable ({one_line(exc)})") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{where}: '{key}' is unreadable ({one_line(exc)})") from None
    return arrays


def _check_npz(path: str, arrays: dict[str, np.ndarray]) -> Splits:
    where = f"data.path: file '{path}'"
    required = [key for key in ("x_train", "y_train") if key not in arrays]
    if required:
        present = ", ".join(sorted(arrays)) or "none"
        raise DataError(f"{where} lacks required keys {required}; keys present: {present}")

    splits: Splits = {}
    for split in SPLITS:
        x_key, y_key = f"x_{split}", f"y_{split}"
        if (x_key in arrays) != (y_key in arrays):
            have, lack = (x_key, y_key) if x_key in arrays else (y_key, x_key)
            raise DataError(f"{where} has '{have}' without '{lack}'; they must come in pairs")
        if x_key not in arrays:
            continue
        x, y = arrays[x_key], arrays[y_key]
        _check_x(where, x_key, x)
        _check_y(where, y_key, y)
        if len(x) != len(y):
            raise DataError(
                f"{where}: '{x_key}' has {len(x)} samples but '{y_key}' has {len(y)}; "
                "they must match"
            )
        if len(y) == 0 and split != "test":
            # An empty test split is allowed so a dataset saved with test_fraction=0
            # round-trips; training or validating on nothing is not.
            raise DataError(f"{where}: '{x_key}' is empty; allowed: at least one sample")
        splits[split] = (x, y)

    feature_shape = splits["train"][0].shape[1:]
    for split, (x, _) in splits.items():
        if x.shape[1:] != feature_shape:
            raise DataError(
                f"{where}: 'x_{split}' has feature shape {x.shape[1:]} but 'x_train' has "
                f"{feature_shape}; they must match"
            )
    return splits


def _check_x(where: str, key: str, x: np.ndarray) -> None:
    if x.dtype.kind not in "biuf":
        raise DataError(
            f"{where}: '{key}' has dtype {x.dtype}; allowed: numeric (bool, integer or float)"
        )
    if x.ndim < 2:
        raise DataError(
            f"{where}: '{key}' has shape {x.shape}; allowed: (N, *feature_shape) with at least "
            "2 dimensions"
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{where}: '{key}' contains NaN or infinite values")


def _check_y(where: str, key: str, y: np.ndarray) -> None:
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: '{key}' has dtype {y.dtype}; integer labels 0..K-1 are required")
    if y.ndim != 1:
        raise DataError(f"{where}: '{key}' has shape {y.shape}; allowed: (N,), one label each")
    if y.size and int(y.min()) < 0:
        raise DataError(
            f"{where}: '{key}' has negative label {int(y.min())}; integer labels 0..K-1 "
            "are required"
        )
    if y.size and int(y.max()) > np.iinfo(np.int32).max:
        raise DataError(f"{where}: '{key}' has label {int(y.max())}, too large for int32")


def _check_label_range(path: str, splits: Splits, k: int) -> None:
    where = f"data.path: file '{path}'"
    if k < 2:
        raise DataError(f"{where}: 'y_train' has only label 0; allowed: at least 2 classes")
    for split in ("val", "test"):
        if split in splits and splits[split][1].size:
            top = int(splits[split][1].max())
            if top >= k:
                raise DataError(
                    f"{where}: 'y_{split}' has label {top}, out of range for the {k} classes "
                    f"of 'y_train' (labels 0..{k - 1})"
                )


register_dataset("npz", load_npz, clear=_cached.cache_clear)
