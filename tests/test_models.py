"""Tests for hpfw.models: shapes, dtypes, traced-rate dropout, jit/vmap and config validation.

Compiling is the slow part on CPU, so shape and dtype checks run through
``jax.eval_shape`` (tracing only), and each test that needs numbers compiles one
function that builds the model from a key and returns every output it checks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from omegaconf import OmegaConf

from hpfw.config import (
    Activation,
    CNNConfig,
    DecoderConfig,
    MLPConfig,
    Tokens,
    TransformerConfig,
)
from hpfw.errors import ConfigError
from hpfw.models import build_model, validate_model
from hpfw.models import transformer as transformer_module
from hpfw.models.layers import RowKey, dropout, site_key

NUM_CLASSES = 10
BATCH = 4
IMAGE = (8, 8, 1)

SMALL_TRANSFORMER = TransformerConfig(num_layers=1, d_model=16, num_heads=2, mlp_dim=16)

CASES: list[tuple[str, Any, tuple[int, ...]]] = [
    ("mlp-flat", MLPConfig(num_layers=2, hidden_dim=16), (64,)),
    ("mlp-image-no-hidden", MLPConfig(num_layers=0, hidden_dim=16), IMAGE),
    (
        "mlp-gelu-dictconfig",
        OmegaConf.structured(MLPConfig(hidden_dim=8, activation=Activation.gelu)),
        (5,),
    ),
    ("cnn", CNNConfig(num_conv_layers=2, channels=4, hidden_dim=16), IMAGE),
    # Four convs on 8x8: pooling stops at 1x1; a 2-D input gets a channel axis.
    ("cnn-deep-2d", CNNConfig(num_conv_layers=4, channels=4, kernel_size=1, hidden_dim=8), (8, 8)),
    (
        "cnn-rgb-odd",
        CNNConfig(num_conv_layers=2, channels=4, hidden_dim=8, activation=Activation.tanh),
        (7, 5, 3),
    ),
    ("transformer-rows", SMALL_TRANSFORMER, IMAGE),
    (
        "transformer-patches",
        TransformerConfig(
            num_layers=2, d_model=16, num_heads=4, mlp_dim=16, tokens=Tokens.patches, patch_size=2
        ),
        IMAGE,
    ),
    (
        "transformer-strings-2d",
        OmegaConf.create(
            {
                "name": "transformer",
                "num_layers": 1,
                "d_model": 8,
                "num_heads": 2,
                "mlp_dim": 8,
                "tokens": "patches",
                "patch_size": 4,
                "activation": "silu",
            }
        ),
        (8, 8),
    ),
]
IDS = [case[0] for case in CASES]


def batch(input_shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    # NumPy, not jax.random: an eager jax.random call compiles a program per shape.
    x = np.random.default_rng(1).standard_normal((BATCH, *input_shape), dtype=np.float32)
    return jnp.asarray(x, dtype=dtype)


def spec(input_shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.ShapeDtypeStruct:
    """A batch's shape and dtype, for jax.eval_shape."""
    return jax.ShapeDtypeStruct((BATCH, *input_shape), dtype)


def build(cfg: Any, input_shape: tuple[int, ...], key: Any) -> nnx.Module:
    return build_model(
        cfg, input_shape=input_shape, num_classes=NUM_CLASSES, rngs=nnx.Rngs(params=key)
    )


@pytest.mark.parametrize(("name", "cfg", "shape"), CASES, ids=IDS)
def test_logits_shape_and_dtype(name: str, cfg: Any, shape: tuple[int, ...]) -> None:
    def trial(key: jax.Array, rate: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        model = build(cfg, shape, key)
        return model(x, dropout_rate=rate, key=None), model(x, dropout_rate=rate, key=key)

    for dtype in (jnp.float32, jnp.bfloat16):
        outs = jax.eval_shape(trial, jax.random.key(0), jnp.float32(0.1), spec(shape, dtype))
        for out in outs:
            assert out.shape == (BATCH, NUM_CLASSES)
            assert out.dtype == jnp.float32


@pytest.mark.parametrize(("name", "cfg", "shape"), CASES, ids=IDS)
def test_bfloat16_params_give_float32_logits(name: str, cfg: Any, shape: tuple[int, ...]) -> None:
    def trial(key: jax.Array, x: jax.Array) -> jax.Array:
        graphdef, state = nnx.split(build(cfg, shape, key))
        state = jax.tree.map(lambda a: a.astype(jnp.bfloat16), state)
        return nnx.merge(graphdef, state)(x, dropout_rate=0.5, key=key)

    out = jax.eval_shape(trial, jax.random.key(0), spec(shape, jnp.bfloat16))
    assert out.shape == (BATCH, NUM_CLASSES)
    assert out.dtype == jnp.float32


# One per family: each compiles once, builds inside jit and checks dropout numerically.
NUMERIC = [CASES[0], CASES[3], CASES[8]]


@pytest.mark.parametrize(("name", "cfg", "shape"), NUMERIC, ids=[c[0] for c in NUMERIC])
def test_dropout_semantics_in_one_compiled_program(
    name: str, cfg: Any, shape: tuple[int, ...]
) -> None:
    traces = 0

    @jax.jit
    def trial(key: jax.Array, rate: jax.Array, x: jax.Array) -> dict[str, jax.Array]:
        nonlocal traces
        traces += 1
        init_key, drop_key = jax.random.split(key)
        # As the trainer does: build inside the compiled program, then split.
        graphdef, state = nnx.split(build(cfg, shape, init_key))
        model = nnx.merge(graphdef, state)
        return {
            "eval": model(x, dropout_rate=rate, key=None),
            "eval_again": model(x, dropout_rate=rate, key=None),
            "train": model(x, dropout_rate=rate, key=drop_key),
            "rate0": model(x, dropout_rate=rate * 0.0, key=drop_key),
        }

    x = batch(shape)
    a = trial(jax.random.key(0), jnp.float32(0.5), x)
    b = trial(jax.random.key(0), jnp.float32(0.25), x)
    assert traces == 1  # the rate is data: one program serves both rates
    for out in (*a.values(), *b.values()):
        assert out.shape == (BATCH, NUM_CLASSES)
        assert out.dtype == jnp.float32
        assert bool(jnp.all(jnp.isfinite(out)))
    np.testing.assert_array_equal(a["eval"], a["eval_again"])
    np.testing.assert_array_equal(a["eval"], b["eval"])
    assert not np.allclose(a["train"], a["eval"])
    assert not np.allclose(a["train"], b["train"])
    np.testing.assert_allclose(a["rate0"], a["eval"], rtol=1e-5, atol=1e-5)


def test_vmap_over_keys() -> None:
    cfg, shape = CASES[0][1], CASES[0][2]
    x = batch(shape)

    def trial(key: jax.Array, rate: jax.Array) -> jax.Array:
        init_key, drop_key = jax.random.split(key)
        return build(cfg, shape, init_key)(x, dropout_rate=rate, key=drop_key)

    keys = jax.random.split(jax.random.key(0), 3)
    many = jax.jit(jax.vmap(trial, in_axes=(0, None)))(keys, jnp.float32(0.2))
    assert many.shape == (3, BATCH, NUM_CLASSES)
    assert not np.allclose(many[0], many[1])
    # The other families trace under vmap too (tracing is enough to catch Python branching).
    for _, cfg2, shape2 in (CASES[3], CASES[7]):
        x2 = batch(shape2)

        def trial2(key: jax.Array, cfg2: Any = cfg2, shape2: Any = shape2, x2: Any = x2) -> Any:
            return build(cfg2, shape2, key)(x2, dropout_rate=0.3, key=key)

        out = jax.eval_shape(jax.vmap(trial2), keys)
        assert out.shape == (3, BATCH, NUM_CLASSES)


def test_a_micro_batch_drops_what_its_rows_drop_in_the_whole_batch() -> None:
    """Rows 2-3 of a batch of 4 (tokens and units too), keyed by their first row."""
    x = jnp.ones((4, 3, 5))
    key = site_key(jax.random.key(0), 7)
    whole = np.asarray(dropout(x, 0.5, key))
    part = site_key(RowKey(jax.random.key(0), jnp.int32(2)), 7)
    np.testing.assert_array_equal(np.asarray(dropout(x[2:], 0.5, part)), whole[2:])
    assert not np.array_equal(whole[:2], whole[2:])


def test_dropout_helper() -> None:
    x = jnp.ones((1000,))
    key = jax.random.key(0)
    assert dropout(x, 0.5, None) is x
    np.testing.assert_array_equal(dropout(x, 0.0, key), x)
    y = np.asarray(dropout(x, jnp.float32(0.25), key))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert 0.65 < kept.mean() < 0.85
    assert dropout(x.astype(jnp.bfloat16), jnp.float32(0.5), key).dtype == jnp.bfloat16
    # rate=1 drops everything, with neither the value nor its gradient NaN.
    np.testing.assert_array_equal(dropout(x, 1.0, key), jnp.zeros_like(x))
    grad = jax.grad(lambda v: dropout(v, jnp.float32(1.0), key).sum())(x)
    assert not np.any(np.isnan(np.asarray(grad)))
    # A raw (legacy) key is a key, not a seed: the same mask as its typed twin.
    raw = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(dropout(x, 0.5, raw), dropout(x, 0.5, key))
    np.testing.assert_array_equal(
        dropout(x, 0.5, site_key(raw, 3)), dropout(x, 0.5, site_key(key, 3))
    )


def test_each_dropout_site_gets_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    keys: list[jax.Array] = []

    def record(x: jax.Array, rate: Any, key: jax.Array | None) -> jax.Array:
        keys.append(jax.random.key_data(key))
        return x

    monkeypatch.setattr(transformer_module, "dropout", record)
    cfg = TransformerConfig(num_layers=2, d_model=8, num_heads=2, mlp_dim=8)

    @jax.jit
    def site_keys(key: jax.Array) -> jax.Array:
        keys.clear()
        build(cfg, IMAGE, key)(batch(IMAGE), dropout_rate=0.5, key=key)
        return jnp.stack(keys)

    data = np.asarray(site_keys(jax.random.key(0))).reshape(4, -1)
    assert len({row.tobytes() for row in data}) == 4  # 2 blocks x 2 sites


def test_state_holds_only_params() -> None:
    # The trainer casts and optimises the whole state; RNG keys in it would break both.
    def parts(key: jax.Array) -> tuple[Any, Any]:
        _, params, rest = nnx.split(build(SMALL_TRANSFORMER, IMAGE, key), nnx.Param, ...)
        return params, rest

    params, rest = jax.eval_shape(parts, jax.random.key(0))
    assert jax.tree.leaves(rest) == []
    assert len(jax.tree.leaves(params)) > 0


ERRORS: list[tuple[Any, tuple[int, ...], str, str]] = [
    (
        {"name": "resnet"},
        IMAGE,
        "model.name",
        "expected one of ['mlp', 'cnn', 'transformer', 'decoder']",
    ),
    (
        TransformerConfig(d_model=30, num_heads=4),
        IMAGE,
        "model.d_model",
        "model.d_model=30 must be divisible by model.num_heads=4",
    ),
    (TransformerConfig(tokens=Tokens.patches, patch_size=3), IMAGE, "model.patch_size", "divide"),
    (TransformerConfig(tokens="patches", patch_size=3), (9, 8), "model.patch_size", "divide"),
    (TransformerConfig(tokens="patches", patch_size=0), IMAGE, "model.patch_size", "positive"),
    (TransformerConfig(num_heads=0), IMAGE, "model.num_heads", "positive"),
    (TransformerConfig(num_layers=0), IMAGE, "model.num_layers", "positive"),
    (TransformerConfig(d_model=0), IMAGE, "model.d_model", "positive"),
    (TransformerConfig(mlp_dim=-1), IMAGE, "model.mlp_dim", "positive"),
    (TransformerConfig(tokens="columns"), IMAGE, "model.tokens", "rows"),
    (TransformerConfig(), (64,), "model.name", "needs image inputs (H, W[, C])"),
    (CNNConfig(), (64,), "model.name", "needs image inputs (H, W[, C])"),
    (CNNConfig(), (2, 8, 8, 1), "model.name", "needs image inputs"),
    (CNNConfig(kernel_size=0), IMAGE, "model.kernel_size", "positive"),
    (CNNConfig(channels=0), IMAGE, "model.channels", "positive"),
    (CNNConfig(num_conv_layers=0), IMAGE, "model.num_conv_layers", "positive"),
    (CNNConfig(hidden_dim=0), IMAGE, "model.hidden_dim", "positive"),
    (MLPConfig(num_layers=-1), (64,), "model.num_layers", ">= 0"),
    (MLPConfig(hidden_dim=0), (64,), "model.hidden_dim", "positive"),
    (MLPConfig(activation="swish"), (64,), "model.activation", "relu"),
    (MLPConfig(), (0,), "model.name", "positive"),
]


@pytest.mark.parametrize(("cfg", "shape", "key", "fragment"), ERRORS)
def test_validate_model_errors(cfg: Any, shape: tuple[int, ...], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_model(cfg, shape)
    assert info.value.key == key
    assert fragment in str(info.value)
    # build_model validates first, so it fails the same way before touching arrays.
    with pytest.raises(ConfigError):
        build(cfg, shape, 0)


@pytest.mark.parametrize(
    ("cfg", "shape"),
    [
        (MLPConfig(num_layers=0), (64,)),
        (MLPConfig(), IMAGE),
        (TransformerConfig(d_model=32, num_heads=4), IMAGE),
        (TransformerConfig(tokens=Tokens.patches, patch_size=4), IMAGE),
        (TransformerConfig(tokens="rows", patch_size=3), IMAGE),  # patch_size unused for rows
        (OmegaConf.structured(CNNConfig()), (8, 8)),
    ],
)
def test_validate_model_accepts(cfg: Any, shape: tuple[int, ...]) -> None:
    validate_model(cfg, shape)


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_shipped_yaml_defaults_build(name: str) -> None:
    schema = {"mlp": MLPConfig, "cnn": CNNConfig, "transformer": TransformerConfig}[name]
    yaml = OmegaConf.load(f"conf/model/{name}.yaml")
    del yaml["defaults"]
    cfg = OmegaConf.merge(OmegaConf.structured(schema), yaml)
    shape = (64,) if name == "mlp" else IMAGE

    def trial(key: jax.Array) -> jax.Array:
        return build(cfg, shape, key)(batch(shape), dropout_rate=0.1, key=key)

    out = jax.eval_shape(trial, jax.random.key(0))
    assert out.shape == (BATCH, NUM_CLASSES)


def test_decoder_positions_see_only_earlier_tokens() -> None:
    """Changing token j changes the logits at positions >= j and none before."""
    cfg = DecoderConfig(num_layers=2, d_model=16, num_heads=2, mlp_dim=16, context_length=8)
    model = build_model(cfg, input_shape=(8,), num_classes=11, rngs=nnx.Rngs(params=0))
    tokens = np.random.default_rng(0).integers(0, 11, size=(1, 8), dtype=np.int32)
    changed = tokens.copy()
    changed[0, 5] = (changed[0, 5] + 1) % 11
    before, after = (
        np.asarray(model(jnp.asarray(t), dropout_rate=0.0, key=None)) for t in (tokens, changed)
    )
    np.testing.assert_array_equal(before[0, :5], after[0, :5])
    assert np.abs(before[0, 5:] - after[0, 5:]).max(axis=-1).min() > 0


@pytest.mark.parametrize(
    "k,c_in,c_out,h,w", [(3, 1, 8, 8, 8), (3, 16, 32, 4, 4), (2, 3, 5, 6, 6), (5, 4, 4, 7, 5)]
)
def test_the_cnns_convolution_and_pooling_have_xlas_values_and_gradients(k, c_in, c_out, h, w):
    # hpfw's own gradients (fast on a CPU) must be the ones lax's ops would give.
    from hpfw.models.conv import max_pool_2x2, same_conv

    x = jax.random.normal(jax.random.key(0), (3, h, w, c_in))
    kernel = jax.random.normal(jax.random.key(1), (k, k, c_in, c_out))
    g = jax.random.normal(jax.random.key(2), (3, h, w, c_out))

    def lax_conv(x, kernel):
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip

    ours, vjp = jax.vjp(same_conv, x, kernel)
    theirs, lax_vjp = jax.vjp(lax_conv, x, kernel)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    for a, b in zip(vjp(g), lax_vjp(g), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)

    def lax_pool(x):
        return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")

    np.testing.assert_array_equal(max_pool_2x2(x), lax_pool(x))
    pooled_grad = jax.grad(lambda x: (max_pool_2x2(x) ** 2).sum())(x)
    np.testing.assert_array_equal(pooled_grad, jax.grad(lambda x: (lax_pool(x) ** 2).sum())(x))


@pytest.mark.parametrize("live", [True, False])
def test_a_skippable_layer_differentiates_as_its_conditional(live):
    # hpfw.models.skip keeps the weights out of the conditional's residuals; the
    # values and gradients must be lax.cond's, whether the layer runs or not.
    from hpfw.models.skip import skippable

    h = jax.random.normal(jax.random.key(0), (4, 6))
    params = (jax.random.normal(jax.random.key(1), (5, 6)), jnp.arange(6.0))
    mask = (jnp.arange(6) < 4).astype(jnp.float32)

    def linear(h, params):
        return h[:, :5] @ params[0] + params[1]

    def nonlinear(z, aux):
        return jnp.tanh(z) * aux

    def plain(h, params):
        return jax.lax.cond(live, lambda h: nonlinear(linear(h, params), mask), lambda h: h, h)

    def ours(h, params):
        return skippable(live, linear, nonlinear, h, params, mask)

    np.testing.assert_allclose(ours(h, params), plain(h, params), rtol=1e-6)

    def grads(f):
        return jax.tree.leaves(jax.grad(lambda h, p: (f(h, p) ** 2).sum(), (0, 1))(h, params))

    for x, y in zip(grads(ours), grads(plain), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_initial_weights_are_lecun_normal_and_keyed_by_position() -> None:
    """A weight depends on its key and indices only, so a padded envelope holds the trial's own."""
    from hpfw.models.masked import position_normals, unit_weights

    @jax.jit
    def draws(key: jax.Array) -> tuple[jax.Array, ...]:
        return (
            position_normals(key, (256, 512), truncated=True),
            position_normals(key, (100, 300), truncated=True),
            position_normals(key, (256, 512), truncated=False),
            position_normals(jax.random.fold_in(key, 1), (256, 512), truncated=True),
            unit_weights(key, 256, (512,), fan_in=128),
        )

    big, small, normal, other, weights = map(np.asarray, draws(jax.random.key(0)))
    np.testing.assert_array_equal(big[:100, :300], small)
    assert np.abs(big).max() <= 2.0
    assert np.abs(normal).max() > 3.0  # untruncated tails
    # flax's lecun_normal: a [-2, 2] truncated normal (std 0.8796) rescaled to unit variance.
    assert abs(big.mean()) < 0.01 and abs(big.std() - 0.8796) < 0.01
    assert abs(normal.mean()) < 0.01 and abs(normal.std() - 1.0) < 0.01
    assert abs(weights.std() * np.sqrt(128) - 1.0) < 0.01
    # Another key, another draw; neighbouring units and inputs are uncorrelated.
    assert abs(np.corrcoef(big.ravel(), other.ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(big[:-1].ravel(), big[1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(big[:, :-1].ravel(), big[:, 1:].ravel())[0, 1]) < 0.01
