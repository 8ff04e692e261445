"""Datasets: ``data.name`` -> standardised, stratified train/validation/test arrays.

``load_dataset(cfg)`` turns the ``data`` config group into a frozen
``Dataset``. Every trial of a sweep sees the same splits (``split_seed`` is
fixed) and, within one process, the same cached arrays. Loaders register
themselves by name (``register_dataset``): ``digits`` and ``npz`` here,
``markov`` and ``text`` in hpfw.lm.
"""

from __future__ import annotations

# Imported for their registrations as much as for their names.
from hpfw.data import digits, npz
from hpfw.data.dataset import NPZ_KEYS, SPLITS, Dataset
from hpfw.data.fields import resolve_data_path
from hpfw.data.npz import save_npz
from hpfw.data.registry import (
    DatasetLoader,
    available_datasets,
    clear_cache,
    load_dataset,
    register_dataset,
)

__all__ = [
    "NPZ_KEYS",
    "SPLITS",
    "Dataset",
    "DatasetLoader",
    "available_datasets",
    "clear_cache",
    "digits",
    "load_dataset",
    "npz",
    "register_dataset",
    "resolve_data_path",
    "save_npz",
]
