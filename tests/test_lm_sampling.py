"""The sampler's distribution (temperature, top-p, top-k), the fidelity metric and sampling."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hpfw.lm.fidelity import next_token_distribution, total_variation
from hpfw.lm.generate import sample


def dist(logits, temperature=1.0, top_p=1.0, top_k=0):
    return np.asarray(
        next_token_distribution(
            jnp.asarray(logits, jnp.float32),
            jnp.float32(temperature),
            jnp.float32(top_p),
            jnp.int32(top_k),
        )
    )


def test_temperature_one_and_top_p_one_give_the_models_own_distribution():
    logits = jax.random.normal(jax.random.key(0), (64, 50)) * 4
    np.testing.assert_allclose(dist(logits), jax.nn.softmax(logits), rtol=1e-5, atol=1e-7)
    # Even a token of probability ~1e-9 survives top_p=1.
    tiny = jnp.array([[20.0, 0.0, -1.0]])
    assert (dist(tiny) > 0).all()


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    probs = np.array([0.05, 0.5, 0.15, 0.3])
    logits = np.log(probs)
    kept = lambda p: set(np.flatnonzero(dist(logits, top_p=p) > 0))  # noqa: E731
    assert kept(0.3) == {1}  # 0.5 alone reaches 0.3
    assert kept(0.5) == {1}  # ... and exactly 0.5
    assert kept(0.6) == {1, 3}
    assert kept(0.79) == {1, 3}
    assert kept(0.81) == {1, 3, 2}
    assert kept(0.99) == {0, 1, 2, 3}
    np.testing.assert_allclose(dist(logits, top_p=0.6)[[1, 3]], [0.5 / 0.8, 0.3 / 0.8], rtol=1e-6)

    # Against the definition on random distributions: the kept mass reaches p, and
    # dropping the least likely kept token would fall short of it.
    rng = np.random.default_rng(0)
    for _ in range(200):
        p_true = rng.dirichlet(np.full(12, 0.5))
        p = rng.uniform(0.05, 0.99)
        kept_mask = dist(np.log(p_true), top_p=p) > 0
        mass = p_true[kept_mask].sum()
        assert mass >= p - 1e-6
        assert mass - p_true[kept_mask].min() < p + 1e-6


def test_top_k_and_temperature():
    logits = np.log(np.array([0.1, 0.4, 0.2, 0.3]))
    assert set(np.flatnonzero(dist(logits, top_k=2) > 0)) == {1, 3}
    assert set(np.flatnonzero(dist(logits, top_k=1) > 0)) == {1}
    np.testing.assert_allclose(dist(logits, top_k=4), dist(logits), rtol=1e-6)
    # Lower temperature sharpens, higher flattens.
    entropy = lambda q: -(q * np.log(q)).sum()  # noqa: E731
    assert entropy(dist(logits, 0.5)) < entropy(dist(logits)) < entropy(dist(logits, 2.0))
    assert dist(logits, 0.01)[1] > 0.999
    # temperature is applied before top-p: at T=0.5 token 1 alone holds > 0.5 of the mass.
    assert set(np.flatnonzero(dist(logits, 0.5, top_p=0.5) > 0)) == {1}
    assert set(np.flatnonzero(dist(logits, 1.0, top_p=0.5) > 0)) == {1, 3}


def test_fidelity_is_zero_for_a_perfect_model_and_grows_as_settings_get_worse():
    rng = np.random.default_rng(1)
    truth = rng.dirichlet(np.full(10, 0.3), size=(200,)).astype(np.float32)
    perfect = np.log(truth)

    def tv(**settings):
        return float(total_variation(truth, dist(perfect, **settings)).mean())

    assert tv() == pytest.approx(0.0, abs=1e-5)
    hotter = [tv(temperature=t) for t in (1.0, 1.3, 1.8, 3.0)]
    colder = [tv(temperature=t) for t in (1.0, 0.8, 0.5, 0.2)]
    narrower = [tv(top_p=p) for p in (1.0, 0.9, 0.6, 0.3)]
    for series in (hotter, colder, narrower):
        assert all(a < b for a, b in itertools.pairwise(series)), series
    # A model that is too flat is repaired in part by cooling it: the best setting is not T=1.
    flat = perfect / 1.5
    tv_flat = [
        float(total_variation(truth, dist(flat, temperature=t)).mean()) for t in (1.0, 1 / 1.5)
    ]
    assert tv_flat[1] == pytest.approx(0.0, abs=1e-5) and tv_flat[0] > 0.05


def _constant_logits(probs):
    logits = jnp.log(jnp.asarray(probs, jnp.float32))
    return lambda tokens: jnp.broadcast_to(logits, (*tokens.shape, logits.shape[0]))


def _sample(logits_fn, prompts, seed=0, **settings):
    values = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "prompt_length": 1, "length": 8}
    values.update(settings)
    traced = {
        k: jnp.asarray(v, jnp.float32 if k in ("temperature", "top_p") else jnp.int32)
        for k, v in values.items()
    }
    fn = jax.jit(lambda p, key, s: sample(logits_fn, p, key, **s))
    return np.asarray(fn(jnp.asarray(prompts), jax.random.key(seed), traced))


def test_samples_follow_the_filtered_distribution():
    probs = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    prompts = np.zeros((3000, 8), np.int32)
    out = _sample(_constant_logits(probs), prompts, temperature=0.8, top_p=0.9)
    drawn = out[:, 1:].ravel()
    expected = dist(np.log(probs), temperature=0.8, top_p=0.9)
    counts = np.bincount(drawn, minlength=5)
    assert counts[expected == 0].sum() == 0  # filtered tokens are never drawn
    kept = expected > 0
    exp = expected[kept].astype(np.float64)
    assert stats.chisquare(counts[kept], exp / exp.sum() * counts.sum()).pvalue > 1e-4


def test_sampling_is_reproducible_keeps_the_prompt_and_stops_at_length():
    vocab = 7
    # Greedy (top_k=1) on "next token = current + 1": the continuation is determined.
    succ = lambda tokens: 10.0 * jax.nn.one_hot((tokens + 1) % vocab, vocab)  # noqa: E731
    prompts = np.array([[3, 5, 0, 0, 0, 0, 0, 0], [6, 2, 0, 0, 0, 0, 0, 0]], np.int32)
    out = _sample(succ, prompts, top_k=1, prompt_length=2, length=6)
    np.testing.assert_array_equal(out[0, :6], [3, 5, 6, 0, 1, 2])
    np.testing.assert_array_equal(out[1, :6], [6, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(out[:, 6:], 0)  # beyond length: the prompt buffer
    probs = np.full(vocab, 1 / vocab)
    many = np.zeros((16, 8), np.int32)
    a = _sample(_constant_logits(probs), many, seed=1)
    b = _sample(_constant_logits(probs), many, seed=1)
    c = _sample(_constant_logits(probs), many, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
