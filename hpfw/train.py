"""The compiled trainer: one jit-compiled program per static signature, hparams as inputs.

A whole training run (per-epoch shuffling, minibatch steps, validation every
epoch, the final test evaluation) is a single ``lax.scan`` program over the
split (graphdef, state) pair of a Flax NNX model. Everything continuous is a
traced input (see ``HPARAM_NAMES``), so trials that differ only in those values
share one compiled program; ``StaticSpec`` holds everything else and is the
key of the in-process cache of compiled programs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from hpfw.data import Dataset
from hpfw.models import build_model
from hpfw.optim import build_optimizer

# Every continuous hyperparameter: a traced float32 input of the program.
HPARAM_NAMES = (
    "lr",
    "momentum",
    "b1",
    "b2",
    "eps",
    "warmup_fraction",
    "grad_clip_norm",
    "weight_decay",
    "dropout",
    "label_smoothing",
)
SPLITS = ("train", "val", "test")
EVAL_CHUNK = 1024  # samples per evaluation step: bounds memory on large splits

Hparams = dict[str, jax.Array]
DataArrays = dict[str, jax.Array]
TrainFn = Callable[[Hparams, jax.Array, DataArrays], dict[str, jax.Array]]


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


@dataclass(frozen=True)
class StaticSpec:
    """Everything that shapes the compiled program; hashable, the cache key."""

    model: tuple[tuple[str, Any], ...]  # the model config's items, sorted
    optimizer: str
    nesterov: bool
    schedule: str
    clip: bool
    epochs: int
    batch_size: int
    precision: str
    input_shape: tuple[int, ...]
    num_classes: int
    split_sizes: tuple[int, int, int]  # train, val, test

    @property
    def model_config(self) -> SimpleNamespace:
        return SimpleNamespace(**dict(self.model))

    @property
    def steps_per_epoch(self) -> int:
        # The last partial batch is dropped so every step has the same shape.
        return self.split_sizes[0] // self.batch_size

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.bfloat16 if self.precision == "bfloat16" else jnp.float32


def static_spec(cfg: Any, dataset: Dataset) -> StaticSpec:
    """Reads the static part of a composed config (model, optimiser family, trainer)."""
    model_items = tuple(sorted((str(k), _plain(v)) for k, v in dict(cfg.model).items()))
    opt = cfg.optimizer
    return StaticSpec(
        model=model_items,
        optimizer=str(opt.name),
        nesterov=bool(opt.get("nesterov", False)),
        schedule=str(_plain(opt.schedule)),
        clip=opt.grad_clip_norm is not None,
        epochs=int(cfg.trainer.epochs),
        batch_size=int(cfg.trainer.batch_size),
        precision=str(_plain(cfg.trainer.precision)),
        input_shape=tuple(dataset.feature_shape),
        num_classes=int(dataset.num_classes),
        split_sizes=(len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)),
    )


def hparams_from_config(cfg: Any) -> dict[str, float]:
    """Reads every continuous hyperparameter; those a family lacks get a neutral value."""
    opt, reg = cfg.optimizer, cfg.regularization
    clip = opt.grad_clip_norm
    return {
        "lr": float(opt.lr),
        "momentum": float(opt.get("momentum", 0.0)),
        "b1": float(opt.get("b1", 0.9)),
        "b2": float(opt.get("b2", 0.999)),
        "eps": float(opt.get("eps", 1e-8)),
        "warmup_fraction": float(opt.warmup_fraction),
        "grad_clip_norm": float(clip) if clip is not None else 0.0,
        "weight_decay": float(reg.weight_decay),
        "dropout": float(reg.dropout),
        "label_smoothing": float(reg.label_smoothing),
    }


def as_hparams(values: Mapping[str, float]) -> Hparams:
    return {name: jnp.asarray(values[name], jnp.float32) for name in HPARAM_NAMES}


def _cross_entropy(logits: jax.Array, labels: jax.Array, num_classes: int, smoothing: Any):
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def make_train_fn(spec: StaticSpec) -> TrainFn:
    """Returns the pure training function ``(hparams, key, data) -> metrics``.

    Pure and shape-static, so it can be jit-compiled once per ``spec`` and
    ``vmap``-ed over (hparams, key) to run many trials as one program. ``data``
    holds ``x_train, y_train, x_val, y_val, x_test, y_test``. The metrics hold
    per-epoch ``train_loss, val_loss, val_accuracy`` (shape ``[epochs]``), the
    final ``test_loss, test_accuracy``, ``diverged`` and ``diverged_epoch``.
    """
    model_cfg = spec.model_config
    dtype = spec.compute_dtype
    num_classes = spec.num_classes
    n_train = spec.split_sizes[0]
    steps, batch = spec.steps_per_epoch, spec.batch_size

    def train(hparams: Hparams, key: jax.Array, data: DataArrays) -> dict[str, jax.Array]:
        init_key, shuffle_key, dropout_key = jax.random.split(key, 3)
        model = build_model(
            model_cfg,
            input_shape=spec.input_shape,
            num_classes=num_classes,
            rngs=nnx.Rngs(params=init_key),
        )
        graphdef, params = nnx.split(model)
        tx = build_optimizer(
            spec.optimizer,
            hparams,
            schedule=spec.schedule,
            total_steps=spec.total_steps,
            nesterov=spec.nesterov,
            clip=spec.clip,
        )

        def logits_of(params: Any, x: jax.Array, key: jax.Array | None) -> jax.Array:
            # Master weights stay float32; bfloat16 is only the compute type.
            compute = jax.tree.map(lambda p: p.astype(dtype), params)
            return nnx.merge(graphdef, compute)(
                x.astype(dtype), dropout_rate=hparams["dropout"], key=key
            )

        def loss_fn(params: Any, x: jax.Array, y: jax.Array, key: jax.Array) -> jax.Array:
            logits = logits_of(params, x, key)
            return _cross_entropy(logits, y, num_classes, hparams["label_smoothing"]).mean()

        def evaluate(params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
            n = y.shape[0]
            chunk = min(n, EVAL_CHUNK)
            n_chunks = math.ceil(n / chunk)
            pad = n_chunks * chunk - n
            xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
                (n_chunks, chunk, *x.shape[1:])
            )
            ys = jnp.pad(y, (0, pad)).reshape(n_chunks, chunk)
            mask = (jnp.arange(n_chunks * chunk) < n).reshape(n_chunks, chunk)

            def one(totals: jax.Array, inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, None]:
                xc, yc, mc = inputs
                logits = logits_of(params, xc, None)
                loss = _cross_entropy(logits, yc, num_classes, 0.0)
                correct = jnp.argmax(logits, -1) == yc
                return totals + jnp.stack([(loss * mc).sum(), (correct * mc).sum()]), None

            totals, _ = jax.lax.scan(one, jnp.zeros(2), (xs, ys, mask))
            return totals[0] / n, totals[1] / n

        def step(carry: tuple, batch_index: jax.Array) -> tuple[tuple, jax.Array]:
            params, opt_state, diverged, step_i = carry
            x, y = data["x_train"][batch_index], data["y_train"][batch_index]
            loss, grads = jax.value_and_grad(loss_fn)(
                params, x, y, jax.random.fold_in(dropout_key, step_i)
            )
            updates, new_opt_state = tx.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            # Once the loss is NaN or inf the run stops counting: the state freezes.
            diverged = diverged | ~jnp.isfinite(loss)
            keep = lambda new, old: jnp.where(diverged, old, new)  # noqa: E731
            params = jax.tree.map(keep, new_params, params)
            opt_state = jax.tree.map(keep, new_opt_state, opt_state)
            return (params, opt_state, diverged, step_i + 1), loss

        def epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            order = jax.random.permutation(epoch_key, n_train)[: steps * batch]
            carry, losses = jax.lax.scan(step, carry, order.reshape(steps, batch))
            val_loss, val_acc = evaluate(carry[0], data["x_val"], data["y_val"])
            nan = jnp.nan
            diverged = carry[2]
            return carry, (
                jnp.where(diverged, nan, losses.mean()),
                jnp.where(diverged, nan, val_loss),
                jnp.where(diverged, nan, val_acc),
                diverged,
            )

        init = (params, tx.init(params), jnp.array(False), jnp.array(0, jnp.int32))
        epoch_keys = jax.random.split(shuffle_key, spec.epochs)
        (params, _, diverged, _), (train_loss, val_loss, val_acc, flags) = jax.lax.scan(
            epoch, init, epoch_keys
        )
        test_loss, test_acc = evaluate(params, data["x_test"], data["y_test"])
        first_bad = jnp.argmax(flags)
        return {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_loss": jnp.where(diverged, jnp.nan, test_loss),
            "test_accuracy": jnp.where(diverged, jnp.nan, test_acc),
            "diverged": diverged,
            "diverged_epoch": jnp.where(diverged, first_bad, -1),
        }

    return train


# --- the in-process cache of compiled programs ------------------------------


@dataclass
class CompiledProgram:
    """A compiled training program and what it cost to build."""

    run: Callable[..., dict[str, jax.Array]]
    compile_seconds: float
    flops: float  # per trial, from XLA's cost analysis (0 when unavailable)


_PROGRAMS: dict[tuple[StaticSpec, str, int], CompiledProgram] = {}
compile_count = 0  # how many programs this process has compiled (tests read it)


def _flops_of(compiled: Any) -> float:
    try:
        cost = compiled.cost_analysis()
    except Exception:  # some backends do not implement cost analysis
        return 0.0
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def compiled_program(
    spec: StaticSpec, data: DataArrays, device: jax.Device, trials: int = 0
) -> CompiledProgram:
    """Returns the compiled program for ``spec`` on ``device``, compiling on first use.

    ``trials=0`` compiles the single-trial program; ``trials=n`` compiles a
    ``vmap`` over ``n`` trials (hparams and keys batched, data shared).
    """
    global compile_count
    cache_key = (spec, str(device), trials)
    program = _PROGRAMS.get(cache_key)
    if program is not None:
        return program
    fn = make_train_fn(spec)
    hp = as_hparams(dict.fromkeys(HPARAM_NAMES, 0.0))
    key = jax.random.key(0)
    if trials:
        fn = jax.vmap(fn, in_axes=(0, 0, None))
        hp = {k: jnp.broadcast_to(v, (trials,)) for k, v in hp.items()}
        key = jax.random.split(key, trials)
    hp, key = jax.device_put((hp, key), device)
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(hp, key, data).compile()
    seconds = time.perf_counter() - start
    compile_count += 1
    program = CompiledProgram(compiled, seconds, _flops_of(compiled) / max(trials, 1))
    _PROGRAMS[cache_key] = program
    return program


# Keyed by id(); the value keeps the dataset alive so its id cannot be reused.
_DEVICE_DATA: dict[tuple[int, str], tuple[Dataset, DataArrays]] = {}


def device_arrays(dataset: Dataset, device: jax.Device) -> DataArrays:
    """The dataset's six arrays on ``device``, transferred once per process."""
    cache_key = (id(dataset), str(device))
    if cache_key not in _DEVICE_DATA:
        host = {f"{a}_{s}": np.asarray(getattr(dataset, f"{a}_{s}")) for s in SPLITS for a in "xy"}
        _DEVICE_DATA[cache_key] = (dataset, jax.device_put(host, device))
    return _DEVICE_DATA[cache_key][1]
