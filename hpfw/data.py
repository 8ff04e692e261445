"""Datasets for hpfw: loading, splitting, standardising and caching.

``load_dataset(cfg)`` turns the ``data`` config group into a frozen ``Dataset``
with train/validation/test splits. Every trial of a sweep sees the same splits
(``split_seed`` is fixed) and, within one process, the same cached arrays. The
bundled digits splits are also cached on disk (``hpfw.data_cache``), so a new
process reads them back instead of importing scikit-learn.
"""

from __future__ import annotations

import functools
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf.errors import MissingMandatoryValue

from hpfw import data_cache
from hpfw.config import DataConfig
from hpfw.errors import ConfigError, DataError

__all__ = ["DATASETS", "Dataset", "clear_cache", "load_dataset", "save_npz"]

DATASETS: tuple[str, ...] = ("digits", "npz")
LM_DATASETS: tuple[str, ...] = ("markov", "text")  # token windows, built by hpfw.lm.dataset

SPLITS: tuple[str, ...] = ("train", "val", "test")
NPZ_KEYS: tuple[str, ...] = tuple(f"{p}_{s}" for s in SPLITS for p in ("x", "y"))

# Below this a feature is treated as constant (digits has always-blank border
# pixels); dividing by ~0 would blow those features up to inf/NaN.
_MIN_STD = 1e-8

# Several configs (e.g. a sweep over split_seed) may be alive at once; a few
# entries keep them all without holding on to arbitrarily many copies.
_CACHE_SIZE = 8


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/validation/test splits of one classification dataset.

    ``x_*`` are float32 arrays of shape ``(N, *feature_shape)``, standardised
    per feature with statistics of ``x_train`` only; ``y_*`` are int32 labels in
    ``0 .. num_classes - 1``. Arrays are read-only because one instance is
    shared by every trial that loads the same config.
    """

    # eq=False: comparing arrays element-wise is ambiguous, and identity is what
    # the cache gives anyway.

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the leading batch dimension."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def __repr__(self) -> str:
        # The default repr would print every array.
        sizes = ", ".join(f"{s}={len(getattr(self, f'y_{s}'))}" for s in SPLITS)
        return (
            f"Dataset(name={self.name!r}, {sizes}, feature_shape={self.feature_shape}, "
            f"num_classes={self.num_classes})"
        )


# --- public API ---------------------------------------------------------------


def load_dataset(cfg: Any, context_length: int | None = None) -> Dataset:
    """Load the dataset described by the ``data`` config group.

    The language-model corpora (``markov``, ``text``; ``hpfw.lm.dataset``) are
    cut into windows of ``context_length`` tokens, which only they need.

    ``cfg`` is a ``DictConfig``, a dataclass such as ``DigitsConfig`` or
    ``NpzConfig``, or a plain mapping with ``name``, ``val_fraction``,
    ``test_fraction``, ``split_seed`` and, for ``npz``, ``path``.

    Raises ``ConfigError`` for bad config values and ``DataError`` for a file
    that is missing or whose contents are unusable.
    """
    name = _field(cfg, "name")
    if name in LM_DATASETS:
        from hpfw.lm.dataset import load_lm_dataset

        if context_length is None:
            raise ConfigError("data.name", f"{name} is a language-model corpus; use task=lm")
        return load_lm_dataset(cfg, context_length)
    if name not in DATASETS:
        raise ConfigError("data.name", f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    val_fraction, test_fraction = _fractions(cfg)
    split_seed = _split_seed(cfg)

    if name == "digits":
        return _load_digits_cached(val_fraction, test_fraction, split_seed)

    path = _resolve_path(cfg)
    stat = path.stat()
    # mtime and size in the key: a file rewritten between two runs in the same
    # process (tests, notebooks) is read again rather than served stale.
    return _load_npz_cached(
        str(path), stat.st_mtime_ns, stat.st_size, val_fraction, test_fraction, split_seed
    )


def save_npz(path: str | os.PathLike[str], dataset: Dataset) -> None:
    """Write the six split arrays of ``dataset`` to ``path`` as an ``.npz`` file.

    The file loads back with ``data=npz data.path=...``. Arrays are written as
    they are, i.e. already standardised; standardising again on load is a no-op
    up to float rounding. As with ``np.savez``, ``.npz`` is appended to a path
    that does not end with it.
    """
    np.savez(path, **{key: getattr(dataset, key) for key in NPZ_KEYS})


def clear_cache() -> None:
    """Forget every cached dataset, so the next ``load_dataset`` reads afresh."""
    _load_digits_cached.cache_clear()
    _load_npz_cached.cache_clear()


# --- config values ------------------------------------------------------------

_DEFAULTS = DataConfig()


_REQUIRED = object()


def _field(cfg: Any, key: str, default: Any = _REQUIRED) -> Any:
    try:
        value = cfg[key] if isinstance(cfg, Mapping) else getattr(cfg, key)
    except MissingMandatoryValue:
        value = "???"
    except (KeyError, AttributeError):
        if default is _REQUIRED:
            raise ConfigError(f"data.{key}", "is required but absent from the config") from None
        value = default
    # A dataclass instance keeps omegaconf's MISSING as the literal string.
    if value == "???":
        raise ConfigError(f"data.{key}", "is required but not set (???)")
    return value


def _is_number(value: Any) -> bool:
    # bool is an int subclass; `val_fraction: true` is a mistake, not 1.0.
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _fractions(cfg: Any) -> tuple[float, float]:
    val = _field(cfg, "val_fraction", _DEFAULTS.val_fraction)
    test = _field(cfg, "test_fraction", _DEFAULTS.test_fraction)
    if not _is_number(val) or not 0.0 < float(val) < 1.0:
        raise ConfigError("data.val_fraction", f"got {val!r}; allowed: a number in (0, 1)")
    if not _is_number(test) or not 0.0 <= float(test) < 1.0:
        raise ConfigError("data.test_fraction", f"got {test!r}; allowed: a number in [0, 1)")
    if float(val) + float(test) >= 1.0:
        raise ConfigError(
            "data.val_fraction",
            f"val_fraction + test_fraction = {float(val) + float(test):g}; "
            "allowed: a sum below 1, leaving samples to train on",
        )
    return float(val), float(test)


def _split_seed(cfg: Any) -> int:
    seed = _field(cfg, "split_seed", _DEFAULTS.split_seed)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError("data.split_seed", f"got {seed!r}; allowed: an integer in [0, 2**32)")
    return int(seed)


def _resolve_path(cfg: Any) -> Path:
    return resolve_data_path(_field(cfg, "path"), "a path to an .npz file")


def resolve_data_path(raw: Any, allowed: str) -> Path:
    """``data.path`` as an existing file; ``ConfigError``/``DataError`` naming the key if not."""
    if not isinstance(raw, str | os.PathLike) or not str(raw):
        raise ConfigError("data.path", f"got {raw!r}; allowed: {allowed}")
    # Imported here so that using hpfw.data outside Hydra does not need it at import.
    from hydra.utils import to_absolute_path

    # Hydra may have changed the working directory to the run's output folder;
    # to_absolute_path resolves against the directory the user launched from
    # (or the current one when Hydra is not initialised).
    path = Path(to_absolute_path(os.path.expanduser(str(raw))))
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise DataError(f"data.path: file '{path}' {what}")
    return path


# --- loading ------------------------------------------------------------------


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_digits_cached(val_fraction: float, test_fraction: float, split_seed: int) -> Dataset:
    """Digits from the in-process cache, else the on-disk one, else scikit-learn."""
    params = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": split_seed}
    key = data_cache.entry_key("digits", params, (_build_digits, _carve, _finish))
    stored = data_cache.load(key)
    if stored is not None and set(NPZ_KEYS) <= stored.keys() and "num_classes" in stored:
        return _from_arrays("digits", stored)
    dataset = _build_digits(val_fraction, test_fraction, split_seed)
    arrays = {k: getattr(dataset, k) for k in NPZ_KEYS}
    data_cache.store(key, arrays | {"num_classes": np.asarray(dataset.num_classes)})
    return dataset


def _from_arrays(name: str, arrays: dict[str, np.ndarray]) -> Dataset:
    """A ``Dataset`` from prepared split arrays (as ``data_cache`` stores them)."""
    splits = {k: arrays[k] for k in NPZ_KEYS}
    for arr in splits.values():
        arr.setflags(write=False)
    return Dataset(name=name, num_classes=int(arrays["num_classes"]), **splits)


def _build_digits(val_fraction: float, test_fraction: float, split_seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Images with a trailing channel axis, so convolutional models need no reshaping.
    x = digits.images.astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int32)
    splits = {"train": (x, y)}
    num_classes = int(y.max()) + 1
    splits = _carve(
        splits, val_fraction, test_fraction, split_seed, num_classes, "data.name: digits"
    )
    return _finish("digits", splits, num_classes)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_npz_cached(
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
    splits = _carve(
        splits, val_fraction, test_fraction, split_seed, num_classes, f"data.path: file '{path}'"
    )
    return _finish("npz", splits, num_classes)


def _read_npz(path: str) -> dict[str, np.ndarray]:
    where = f"data.path: file '{path}'"
    try:
        # allow_pickle=False: a data file must never be able to run code.
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{where} is not a valid .npz archive ({_one_line(exc)})") from None
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
                raise DataError(f"{where}: '{key}' is unreadable ({_one_line(exc)})") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{where}: '{key}' is unreadable ({_one_line(exc)})") from None
    return arrays


def _check_npz(path: str, arrays: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, ...]]:
    where = f"data.path: file '{path}'"
    required = [key for key in ("x_train", "y_train") if key not in arrays]
    if required:
        present = ", ".join(sorted(arrays)) or "none"
        raise DataError(f"{where} lacks required keys {required}; keys present: {present}")

    splits: dict[str, tuple[np.ndarray, ...]] = {}
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


def _check_label_range(path: str, splits: dict[str, tuple[np.ndarray, ...]], k: int) -> None:
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


# --- splitting and standardising ----------------------------------------------


def _carve(
    splits: dict[str, tuple[np.ndarray, ...]],
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    num_classes: int,
    where: str,
) -> dict[str, tuple[np.ndarray, ...]]:
    """Carve missing val/test splits out of train, stratified by label.

    Fractions are of every sample available (train plus any given val/test),
    so 0.2/0.2 on a training-only source gives 60/20/20.
    """
    from sklearn.model_selection import train_test_split

    total = sum(len(y) for _, y in splits.values())
    splits = dict(splits)
    # Test first, then validation, so a given seed and test_fraction fix the test
    # set regardless of val_fraction.
    for split, fraction in (("test", test_fraction), ("val", val_fraction)):
        if split in splits:
            continue
        x, y = splits["train"]
        n_carve = round(fraction * total)
        if fraction > 0:
            n_carve = max(n_carve, 1)
        if n_carve == 0:
            splits[split] = (x[:0], y[:0])
            continue
        if n_carve >= len(y):
            raise DataError(
                f"{where} has {len(y)} training samples left, too few to carve a "
                f"{split} split of {n_carve} ({split}_fraction={fraction:g} of {total})"
            )
        try:
            keep, take = train_test_split(
                np.arange(len(y)),
                test_size=n_carve,
                random_state=split_seed,
                stratify=y,
            )
        except ValueError as exc:
            hint = f"change data.{split}_fraction"
            if where.startswith("data.path"):
                hint += f", add samples or provide x_{split}/y_{split}"
            raise DataError(
                f"{where} is too small to carve a stratified {split} split of "
                f"{n_carve} out of {len(y)} training samples with {num_classes} classes "
                f"({_one_line(exc)}); {hint}"
            ) from None
        # Sorted indices keep the source order within each split, which makes the
        # splits easier to inspect and does not matter to training (it shuffles).
        keep, take = np.sort(keep), np.sort(take)
        splits[split] = (x[take], y[take])
        splits["train"] = (x[keep], y[keep])
    return splits


def _finish(name: str, splits: dict[str, tuple[np.ndarray, ...]], num_classes: int) -> Dataset:
    x_train = splits["train"][0].astype(np.float64)
    # Statistics of the training split only: using val/test would leak them.
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std < _MIN_STD, 1.0, std)

    out: dict[str, np.ndarray] = {}
    for split in SPLITS:
        x, y = splits[split]
        xs = ((np.asarray(x, dtype=np.float64) - mean) / std).astype(np.float32)
        ys = np.asarray(y).astype(np.int32)
        for arr in (xs, ys):
            arr.setflags(write=False)
        out[f"x_{split}"], out[f"y_{split}"] = xs, ys
    return Dataset(name=name, num_classes=num_classes, **out)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
