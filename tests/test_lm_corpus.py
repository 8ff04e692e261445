"""The Markov corpus: its samples follow its stated distribution; text files become windows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hpfw.errors import ConfigError, DataError
from hpfw.lm.corpus import MarkovSource
from hpfw.lm.dataset import load_lm_dataset

MARKOV = {
    "name": "markov",
    "vocab_size": 8,
    "order": 2,
    "concentration": 0.5,
    "source_seed": 3,
    "train_windows": 3000,
    "val_windows": 200,
    "test_windows": 200,
    "split_seed": 0,
}


def _pooled_chisquare(counts: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square p-value, with categories expected fewer than 5 times pooled into one."""
    expected = probs * counts.sum()
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        assert obs[-1] == 0  # a token the source never emits here never appears
        obs, exp = obs[:-1], exp[:-1]
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)


def test_sample_frequencies_match_the_true_next_token_distribution():
    ds = load_lm_dataset(MARKOV, context_length=16)
    source = ds.source
    probs = source.next_token_probs(ds.x_train)  # [N, T, V]: P(y[i, t] | x[i, : t + 1])
    rows = source._contexts(ds.x_train)[:, 1:].ravel()
    targets = ds.y_train.ravel()
    # The ten contexts seen most often each carry thousands of draws.
    for context in np.argsort(np.bincount(rows))[-10:]:
        where = rows == context
        counts = np.bincount(targets[where], minlength=source.vocab_size)
        expected = probs.reshape(-1, source.vocab_size)[where][0]
        np.testing.assert_allclose(expected, source.table[context], rtol=1e-6)
        assert _pooled_chisquare(counts, expected) > 1e-4, (context, counts, expected)
    # And the first token of every document follows the fixed start context (row 0).
    first = np.bincount(ds.x_train[:, 0], minlength=source.vocab_size)
    assert _pooled_chisquare(first, source.table[0]) > 1e-4


def test_entropy_is_the_loss_floor_the_samples_reach():
    ds = load_lm_dataset(MARKOV, context_length=16)
    floor = ds.source.entropy(ds.x_val)
    assert 0 < floor < np.log(MARKOV["vocab_size"])
    # The true source's own loss on its samples is close to the floor (law of large numbers).
    assert ds.source.nll(ds.x_train, ds.y_train) == pytest.approx(floor, abs=0.05)


def test_corpus_is_reproducible_and_splits_are_fresh_documents():
    a = load_lm_dataset(MARKOV, context_length=16)
    b = load_lm_dataset({**MARKOV, "train_windows": 100}, context_length=16)
    np.testing.assert_array_equal(a.x_val, b.x_val)  # other splits' sizes change nothing
    assert a.x_train.dtype == np.int32 and a.x_train.shape == (3000, 16)
    np.testing.assert_array_equal(a.x_train[:, 1:], a.y_train[:, :-1])  # y is x shifted
    other = load_lm_dataset({**MARKOV, "source_seed": 4}, context_length=16)
    assert not np.array_equal(other.source.table, a.source.table)


def test_source_rows_are_distributions():
    source = MarkovSource.create(vocab_size=5, order=3, concentration=0.2, seed=0)
    assert source.table.shape == (125, 5)
    np.testing.assert_allclose(source.table.sum(1), 1.0)


@pytest.mark.parametrize(
    "key,value", [("vocab_size", 1), ("order", 0), ("concentration", 0.0), ("val_windows", 0)]
)
def test_bad_markov_values_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data\\.{key}"):
        load_lm_dataset({**MARKOV, key: value}, context_length=16)


TEXT = {"name": "text", "val_fraction": 0.1, "test_fraction": 0.1}


def test_text_file_becomes_character_windows(tmp_path):
    text = "the quick brown fox jumps over the lazy dog. " * 40
    (tmp_path / "t.txt").write_text(text)
    ds = load_lm_dataset({**TEXT, "path": str(tmp_path / "t.txt")}, context_length=16)
    assert ds.vocab == tuple(sorted(set(text))) and ds.num_classes == len(ds.vocab)
    assert ds.source is None
    # Windows tile the training block: a window's last target is the next one's first input.
    assert text.startswith("".join(ds.decode(row) for row in ds.x_train))
    assert ds.decode(ds.x_train[1])[0] == ds.decode(ds.y_train[0])[-1]
    np.testing.assert_array_equal(ds.x_train[:, 1:], ds.y_train[:, :-1])
    assert len(ds.y_val) >= 1 and len(ds.y_test) >= 1


def test_missing_or_short_text_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"data\.path.*not found"):
        load_lm_dataset({**TEXT, "path": str(tmp_path / "nope.txt")}, context_length=16)
    (tmp_path / "short.txt").write_text("tiny text")
    with pytest.raises(DataError, match=r"data\.path.*too short.*context_length"):
        load_lm_dataset({**TEXT, "path": str(tmp_path / "short.txt")}, context_length=16)
