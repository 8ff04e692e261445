"""Language-model datasets: int32 token windows in hpfw's ``Dataset``, from a source or a file.

An LM dataset is a ``hpfw.data.Dataset`` whose ``x_*`` are int32 windows
[N, T] and whose ``y_*`` are the next tokens [N, T] (``x`` shifted by one), so
the compiled trainer trains it unchanged. Nothing is standardised: tokens are
indices. ``LMDataset`` adds what generation and the fidelity objective need.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf.errors import MissingMandatoryValue

from hpfw.data import Dataset, register_dataset
from hpfw.errors import ConfigError
from hpfw.lm.corpus import MAX_CONTEXTS, MarkovSource
from hpfw.values import plain

_CACHE_SIZE = 8


@dataclass(frozen=True, eq=False, repr=False)  # repr=False: Dataset's short repr
class LMDataset(Dataset):
    """Token windows plus their vocabulary and, for a generated corpus, its true source."""

    vocab: tuple[str, ...] = ()  # the text of each token id, for decoding samples
    separator: str = ""  # placed between decoded tokens ("" for characters and letters)
    source: MarkovSource | None = None  # None when the true distribution is unknown (text)

    def decode(self, tokens: Any) -> str:
        return self.separator.join(self.vocab[int(t)] for t in tokens)


def windows(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Documents [N, T + 1] -> inputs [N, T] and next-token targets [N, T], read-only int32."""
    x = np.ascontiguousarray(tokens[:, :-1], dtype=np.int32)
    y = np.ascontiguousarray(tokens[:, 1:], dtype=np.int32)
    for a in (x, y):
        a.setflags(write=False)
    return x, y


def load_lm_dataset(cfg: Any, context_length: int) -> LMDataset:
    """The ``data`` group of ``task=lm`` as windows of ``context_length`` tokens.

    Raises ``ConfigError`` for bad values and ``DataError`` for an unusable file.
    """
    if field(cfg, "name") == "text":
        from hpfw.lm.text import load_text

        return load_text(cfg, context_length)
    return load_markov(cfg, context_length)


def window_length(cfg: Any, context_length: int | None) -> int:
    """``context_length``; ``ConfigError`` when a classifier's run (None) asks for a corpus."""
    if context_length is None:
        name = field(cfg, "name")
        raise ConfigError("data.name", f"{name} is a language-model corpus; use task=lm")
    return context_length


def load_markov(cfg: Any, context_length: int | None) -> LMDataset:
    """``data=markov``: windows of a seeded Markov chain's documents, with the chain itself."""
    length = window_length(cfg, context_length)
    values = {
        key: field(cfg, key)
        for key in (
            "vocab_size",
            "order",
            "concentration",
            "source_seed",
            "train_windows",
            "val_windows",
            "test_windows",
            "split_seed",
        )
    }
    _check_markov(values)
    return _markov_cached(length, **values)


def field(cfg: Any, key: str) -> Any:
    """``cfg.key`` from a DictConfig, dataclass or mapping; ``ConfigError`` when unset (???)."""
    try:
        value = cfg[key] if isinstance(cfg, Mapping) else getattr(cfg, key)
    except MissingMandatoryValue:
        raise ConfigError(f"data.{key}", "is required but not set (???)") from None
    return plain(value)


def _check_markov(v: dict[str, Any]) -> None:
    def bad(key: str, allowed: str) -> ConfigError:
        return ConfigError(f"data.{key}", f"got {v[key]!r}; allowed: {allowed}")

    if not 2 <= v["vocab_size"] <= 256:
        raise bad("vocab_size", "an integer in [2, 256]")
    if v["order"] < 1:
        raise bad("order", "an integer >= 1")
    if v["vocab_size"] ** v["order"] > MAX_CONTEXTS:
        raise ConfigError(
            "data.order",
            f"vocab_size ** order = {v['vocab_size'] ** v['order']} contexts; "
            f"allowed: at most {MAX_CONTEXTS}",
        )
    if not v["concentration"] > 0:
        raise bad("concentration", "a number > 0")
    for key in ("train_windows", "val_windows", "test_windows"):
        if v[key] < 1:
            raise bad(key, "an integer >= 1")
    for key in ("source_seed", "split_seed"):
        if not 0 <= v[key] < 2**32:
            raise bad(key, "an integer in [0, 2**32)")


def _markov_vocab(vocab_size: int) -> tuple[tuple[str, ...], str]:
    # Letters read well in the log; larger vocabularies print numbers with spaces.
    if vocab_size <= 26:
        return tuple(chr(ord("a") + i) for i in range(vocab_size)), ""
    return tuple(str(i) for i in range(vocab_size)), " "


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _markov_cached(
    context_length: int,
    *,
    vocab_size: int,
    order: int,
    concentration: float,
    source_seed: int,
    train_windows: int,
    val_windows: int,
    test_windows: int,
    split_seed: int,
) -> LMDataset:
    source = MarkovSource.create(vocab_size, order, concentration, source_seed)
    splits: dict[str, np.ndarray] = {}
    for i, (split, n) in enumerate(
        (("train", train_windows), ("val", val_windows), ("test", test_windows))
    ):
        # One stream per split, so changing the size of one split leaves the others alone.
        rng = np.random.default_rng([split_seed, i])
        x, y = windows(source.sample(n, context_length + 1, rng))
        splits[f"x_{split}"], splits[f"y_{split}"] = x, y
    vocab, separator = _markov_vocab(vocab_size)
    return LMDataset(
        name="markov",
        num_classes=vocab_size,
        vocab=vocab,
        separator=separator,
        source=source,
        **splits,
    )


register_dataset("markov", load_markov, windowed=True, clear=_markov_cached.cache_clear)
