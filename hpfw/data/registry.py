"""The dataset registry: ``data.name`` -> the loader that registered it.

Loaders register themselves when their module is imported: hpfw.data
registers ``digits`` and ``npz``, hpfw.lm registers its corpora ``markov``
and ``text``. So this package imports no task, and a task that brings its own
datasets registers them when it is imported (``hpfw.tasks`` imports a task's
modules before its data loads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpfw.data.dataset import Dataset
from hpfw.data.fields import field
from hpfw.errors import ConfigError

# (the data config, context_length) -> Dataset. context_length is the window a
# sequence model reads (model.context_length), None for a classifier's data.
DatasetLoader = Callable[[Any, int | None], Dataset]


@dataclass(frozen=True)
class _Entry:
    loader: DatasetLoader
    windowed: bool
    clear: Callable[[], None] | None


_DATASETS: dict[str, _Entry] = {}


def register_dataset(
    name: str,
    loader: DatasetLoader,
    *,
    windowed: bool = False,
    clear: Callable[[], None] | None = None,
) -> None:
    """Makes ``data.name=<name>`` load with ``loader``.

    ``windowed``: the loader cuts token sequences into windows of
    ``context_length`` (a language model's data); an unknown name lists the
    datasets of the kind the caller asked for. ``clear`` forgets the loader's
    cached datasets (``clear_cache``). A name can be registered once.
    """
    if name in _DATASETS:
        raise ValueError(f"dataset {name!r} is registered already")
    _DATASETS[name] = _Entry(loader, windowed, clear)


def available_datasets(windowed: bool | None = None) -> tuple[str, ...]:
    """The registered names, sorted; only those of one kind when ``windowed`` is given."""
    return tuple(
        sorted(n for n, e in _DATASETS.items() if windowed is None or e.windowed == windowed)
    )


def load_dataset(cfg: Any, context_length: int | None = None) -> Dataset:
    """Load the dataset described by the ``data`` config group.

    ``cfg`` is a ``DictConfig``, a dataclass such as ``DigitsConfig`` or
    ``NpzConfig``, or a plain mapping with ``name`` and that dataset's keys
    (for ``digits`` and ``npz``: ``val_fraction``, ``test_fraction``,
    ``split_seed`` and, for ``npz``, ``path``). The language-model corpora
    (``markov``, ``text``: registered by hpfw.lm) are cut into windows of
    ``context_length`` tokens, which only they need.

    Raises ``ConfigError`` for bad config values (an unknown name lists the
    registered ones) and ``DataError`` for a file that is missing or whose
    contents are unusable.
    """
    name = field(cfg, "name")
    entry = _DATASETS.get(name)
    if entry is None:
        allowed = available_datasets(windowed=context_length is not None) or available_datasets()
        raise ConfigError("data.name", f"unknown dataset {name!r}; allowed: {', '.join(allowed)}")
    return entry.loader(cfg, context_length)


def clear_cache() -> None:
    """Forget every cached dataset, so the next ``load_dataset`` reads afresh."""
    for entry in _DATASETS.values():
        if entry.clear is not None:
            entry.clear()
