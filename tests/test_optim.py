"""The optimiser, schedule and loss the trainer builds from traced values match their references.

``hpfw/trainer/optim.py`` builds optax optimisers from traced hyperparameters
and writes the warm-up/cosine schedule out by hand; these tests hold each
piece against optax itself (built with plain Python numbers, the way optax is
normally used) and against the textbook formulas in NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hpfw.trainer.optim import build_optimizer, learning_rate_schedule
from hpfw.trainer.spec import as_hparams
from hpfw.trainer.trainer import _cross_entropy

STEPS = [0, 1, 5, 9, 10, 11, 37, 50, 99, 100, 130]


@pytest.mark.parametrize("warmup_steps", [1, 10, 25])
def test_warmup_cosine_is_optax_shifted_one_step_into_the_warmup(warmup_steps):
    total, lr = 100, 0.3
    ours = learning_rate_schedule("warmup_cosine", lr, warmup_steps / total, total)
    ref = optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps, total)
    for step in STEPS:
        # optax's warm-up starts at 0 (a step that trains nothing); ours starts a
        # step further on, at lr / warmup_steps; from the peak on they agree.
        expected = ref(step + 1) if step < warmup_steps else ref(step)
        assert float(ours(step)) == pytest.approx(float(expected), rel=1e-5, abs=1e-7), step


def test_warmup_fraction_is_a_traced_input():
    total = 100
    schedule = jax.jit(
        lambda wf, step: learning_rate_schedule("warmup_cosine", 0.3, wf, total)(step)
    )
    for warmup_steps in (10, 40):
        ref = optax.warmup_cosine_decay_schedule(0.0, 0.3, warmup_steps, total)
        for step in (3, warmup_steps, 70):
            expected = ref(step + 1) if step < warmup_steps else ref(step)
            got = schedule(jnp.float32(warmup_steps / total), step)
            assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_cosine_and_constant_match_optax():
    total, lr = 100, 0.3
    cosine = learning_rate_schedule("cosine", lr, 0.0, total)
    ref = optax.cosine_decay_schedule(lr, total)
    constant = learning_rate_schedule("constant", lr, 0.5, total)
    for step in STEPS:
        assert float(cosine(step)) == pytest.approx(float(ref(step)), rel=1e-5, abs=1e-7), step
        assert float(constant(step)) == pytest.approx(lr)


# name, the traced values, clipping on, and optax built by hand with plain numbers.
CASES = {
    "sgd-coupled-decay": (
        "sgd",
        {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05},
        False,
        lambda: optax.chain(optax.add_decayed_weights(0.05), optax.sgd(0.1, momentum=0.9)),
    ),
    "sgd-clip": (
        "sgd",
        {"lr": 0.1, "momentum": 0.5, "grad_clip_norm": 0.3},
        True,
        lambda: optax.chain(optax.clip_by_global_norm(0.3), optax.sgd(0.1, momentum=0.5)),
    ),
    "adam-coupled-decay": (
        "adam",
        {"lr": 0.01, "b1": 0.8, "b2": 0.95, "eps": 1e-3, "weight_decay": 0.05},
        False,
        lambda: optax.chain(
            optax.add_decayed_weights(0.05), optax.adam(0.01, b1=0.8, b2=0.95, eps=1e-3)
        ),
    ),
    "adamw-decoupled-decay-clip": (
        "adamw",
        {"lr": 0.01, "b1": 0.8, "b2": 0.95, "eps": 1e-3, "weight_decay": 0.05},
        True,
        lambda: optax.chain(
            optax.clip_by_global_norm(0.3),
            optax.adamw(0.01, b1=0.8, b2=0.95, eps=1e-3, weight_decay=0.05),
        ),
    ),
}
NEUTRAL = {
    "lr": 0.0,
    "momentum": 0.0,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "warmup_fraction": 0.0,
    "grad_clip_norm": 0.3,
    "weight_decay": 0.0,
    "dropout": 0.0,
    "label_smoothing": 0.0,
}


def _params_and_grads(steps: int):
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    grads = [{k: 2.0 * rng.normal(size=v.shape) for k, v in params.items()} for _ in range(steps)]
    as_f32 = lambda tree: jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), tree)  # noqa: E731
    return as_f32(params), [as_f32(g) for g in grads]


def _apply(tx: optax.GradientTransformation, params, grads):
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize("case", CASES)
def test_steps_match_optax_built_by_hand(case):
    name, values, clip, reference = CASES[case]
    hparams = as_hparams({**NEUTRAL, **values})
    ours = build_optimizer(name, hparams, schedule="constant", total_steps=10, clip=clip)
    params, grads = _params_and_grads(3)
    got, want = _apply(ours, params, grads), _apply(reference(), params, grads)
    for key in params:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_a_program_of_three_families_steps_as_the_trials_own_family(case, nesterov):
    """One elementwise pass for sgd, adam and adamw picks the trial's family's very numbers."""
    from hpfw.trainer.optim import OPTIMIZERS, switch_families

    name, values, clip, _ = CASES[case]
    hparams = as_hparams({**NEUTRAL, **values})
    options = {"schedule": "constant", "total_steps": 10, "clip": clip, "nesterov": nesterov}
    own = build_optimizer(name, hparams, **options)
    index = jnp.int32(OPTIMIZERS.index(name))
    three = switch_families(OPTIMIZERS, hparams, index=index, **options)
    params, grads = _params_and_grads(3)
    own_state, three_state = own.init(params), three.init(params)
    for g in grads:
        want, own_state = own.update(g, own_state, params)
        got, three_state = three.update(g, three_state, params)
        for key in params:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-9)
        for slot in own_state["mu"]:
            np.testing.assert_allclose(three_state["mu"][slot], own_state["mu"][slot], rtol=1e-6)


def _clipped(g: dict, norm: float) -> dict:
    total = np.sqrt(sum(float(np.sum(np.square(v))) for v in g.values()))
    return {k: v * min(1.0, norm / total) for k, v in g.items()}


@pytest.mark.parametrize("case", CASES)
def test_first_step_matches_the_textbook_formula(case):
    """One step from a fresh state, in NumPy: what each name promises."""
    name, values, clip, _ = CASES[case]
    v = {**NEUTRAL, **values}
    ours = build_optimizer(name, as_hparams(v), schedule="constant", total_steps=10, clip=clip)
    params, (grad,) = _params_and_grads(1)
    got = _apply(ours, params, [grad])
    p = {k: np.asarray(a, np.float64) for k, a in params.items()}
    g = {k: np.asarray(a, np.float64) for k, a in grad.items()}
    if clip:
        g = _clipped(g, v["grad_clip_norm"])
    for k in p:
        if name == "sgd":  # coupled: L2 added to the gradient; momentum starts from zero
            step = g[k] + v["weight_decay"] * p[k]
        elif name == "adam":  # coupled; bias-corrected moments of one step are g and g**2
            d = g[k] + v["weight_decay"] * p[k]
            step = d / (np.abs(d) + v["eps"])
        else:  # adamw: decay applied to the weights, outside the adaptive step
            step = g[k] / (np.abs(g[k]) + v["eps"]) + v["weight_decay"] * p[k]
        np.testing.assert_allclose(got[k], p[k] - v["lr"] * step, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
def test_label_smoothing_is_a_mix_of_the_label_and_the_uniform_loss(smoothing):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 10)) * 3
    labels = rng.integers(0, 10, size=5)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -log_p[np.arange(5), labels]
    uniform = -log_p.mean(-1)  # cross-entropy against the uniform distribution
    expected = (1 - smoothing) * nll + smoothing * uniform
    got = _cross_entropy(
        jnp.asarray(logits, jnp.float32), jnp.asarray(labels), 10, jnp.float32(smoothing)
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("clip", [False, True, jnp.asarray(True)])
def test_a_live_step_moves_the_layers_a_trial_has_as_the_whole_step_does(clip):
    """hpfw.trainer.live: the third layer is skipped (depth 2 of up to 3); the other
    layers move as one optimiser step over the whole tree moves them (clipping by the
    global norm included), and the skipped layer's weights and moments stay zero."""
    from hpfw.trainer import live
    from hpfw.trainer.optim import switch_families

    rng = np.random.default_rng(0)

    def layer(scale: float) -> dict:
        return {"kernel": jnp.asarray(rng.normal(size=(4, 4)) * scale, jnp.float32)}

    params = {"hidden": {0: layer(1.0), 1: layer(1.0), 2: layer(0.0)}, "head": layer(1.0)}
    grads = {"hidden": {0: layer(3.0), 1: layer(3.0), 2: layer(0.0)}, "head": layer(3.0)}
    hparams = as_hparams({**NEUTRAL, "lr": 0.1, "weight_decay": 0.1, "grad_clip_norm": 1.0})
    options = dict(schedule="constant", total_steps=10, nesterov=False, index=jnp.asarray(1))
    families = ("sgd", "adam", "adamw")
    whole = switch_families(families, hparams, clip=clip, **options)
    state = whole.init(params)
    updates, want_state = whole.update(grads, state, params)
    want = optax.apply_updates(params, updates)
    groups = live.layer_groups(params, {"num_layers": (1, 3)}, {"num_layers": jnp.asarray(2)})
    assert groups is not None and len(groups[1]) == 2  # layers 1 and 2 may be skipped
    tx = switch_families(families, hparams, clip=False, **options)
    got, got_state = live.live_step(
        tx, clip, hparams["grad_clip_norm"], grads, state, params, groups
    )
    for path, value in jax.tree_util.tree_leaves_with_path(want):
        np.testing.assert_allclose(_at(got, path), value, rtol=1e-6, atol=1e-7)
    for slot in ("mu", "nu"):
        for path, value in jax.tree_util.tree_leaves_with_path(want_state[slot]):
            np.testing.assert_allclose(_at(got_state[slot], path), value, rtol=1e-6, atol=1e-7)
    assert not np.any(np.asarray(got["hidden"][2]["kernel"]))
    assert int(got_state["count"]) == 1


def _at(tree, path):
    for key in path:
        tree = tree[key.key]
    return tree
