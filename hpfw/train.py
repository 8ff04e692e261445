"""The compiled trainer: one jit-compiled program per static signature, hparams as inputs.

A whole training run (per-epoch shuffling, minibatch steps, validation every
epoch, the final test evaluation) is a single ``lax.scan`` program over the
split (graphdef, state) pair of a Flax NNX model. Everything continuous is a
traced input (see ``HPARAM_NAMES``), so trials that differ only in those values
share one compiled program; ``StaticSpec`` holds everything else and is the
key of the in-process cache of compiled programs.

A run can also continue from a saved trainer state (``TrainState``): it then
trains epochs ``[start_epoch, epochs)`` with the same shuffles, dropout masks
and learning rates as an uninterrupted run, because each epoch's shuffle key
and each step's dropout key derive from the epoch and step numbers, and the
schedule's horizon (``schedule_epochs``) does not depend on where a run starts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from hpfw import device as devices
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
# The trainer's state between epochs: {"params": ..., "opt_state": ..., "step": int32}.
TrainState = dict[str, Any]
TrainFn = Callable[..., dict[str, Any]]


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
    start_epoch: int = 0  # the program trains epochs [start_epoch, epochs)
    schedule_epochs: int = 0  # the learning-rate schedule's horizon; 0: ``epochs``

    @property
    def model_config(self) -> SimpleNamespace:
        return SimpleNamespace(**dict(self.model))

    @property
    def steps_per_epoch(self) -> int:
        # The last partial batch is dropped so every step has the same shape.
        return self.split_sizes[0] // self.batch_size

    @property
    def run_epochs(self) -> int:
        """Epochs this program trains (fewer than ``epochs`` when it continues a run)."""
        return self.epochs - self.start_epoch

    @property
    def total_steps(self) -> int:
        """Steps this program trains."""
        return self.run_epochs * self.steps_per_epoch

    @property
    def schedule_steps(self) -> int:
        return (self.schedule_epochs or self.epochs) * self.steps_per_epoch

    @property
    def signature(self) -> str:
        """What a saved state must match to be continued: all but the epoch counts."""
        fields = {k: v for k, v in vars(self).items() if k not in ("epochs", "start_epoch")}
        return repr(sorted(fields.items()))

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.bfloat16 if self.precision == "bfloat16" else jnp.float32


def static_spec(cfg: Any, dataset: Dataset, start_epoch: int = 0) -> StaticSpec:
    """Reads the static part of a composed config (model, optimiser family, trainer)."""
    model_items = tuple(sorted((str(k), _plain(v)) for k, v in dict(cfg.model).items()))
    opt = cfg.optimizer
    schedule_epochs = cfg.trainer.get("schedule_epochs")
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
        start_epoch=start_epoch,
        schedule_epochs=int(schedule_epochs or cfg.trainer.epochs),
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


class Trainer:
    """The pieces of the training program for one ``StaticSpec``.

    ``make_train_fn`` composes them into the whole run; ``program_flops`` lowers
    them one at a time, because XLA's cost analysis counts a ``lax.scan`` body
    once rather than once per iteration.
    """

    def __init__(self, spec: StaticSpec) -> None:
        self.spec = spec
        # The model's structure, without materialising any weights.
        self.graphdef, _ = nnx.split(nnx.eval_shape(lambda: self._model(jax.random.key(0))))

    def _model(self, init_key: jax.Array) -> nnx.Module:
        return build_model(
            self.spec.model_config,
            input_shape=self.spec.input_shape,
            num_classes=self.spec.num_classes,
            rngs=nnx.Rngs(params=init_key),
        )

    def init_params(self, init_key: jax.Array) -> Any:
        """The model's initial weights (the state half of ``nnx.split``)."""
        return nnx.split(self._model(init_key))[1]

    def optimizer(self, hparams: Hparams) -> optax.GradientTransformation:
        spec = self.spec
        return build_optimizer(
            spec.optimizer,
            hparams,
            schedule=spec.schedule,
            total_steps=spec.schedule_steps,
            nesterov=spec.nesterov,
            clip=spec.clip,
        )

    def init_state(self, hparams: Hparams, init_key: jax.Array) -> TrainState:
        """A fresh ``TrainState``: initial weights, optimiser state, step 0."""
        params = self.init_params(init_key)
        opt_state = self.optimizer(hparams).init(params)
        return {"params": params, "opt_state": opt_state, "step": jnp.array(0, jnp.int32)}

    def init_carry(self, hparams: Hparams, init_key: jax.Array) -> tuple:
        """The training loop's carry: ``(params, opt_state, diverged, step)``."""
        return self.carry(self.init_state(hparams, init_key))

    @staticmethod
    def carry(state: TrainState) -> tuple:
        return state["params"], state["opt_state"], jnp.array(False), state["step"]

    def logits(
        self, hparams: Hparams, params: Any, x: jax.Array, key: jax.Array | None
    ) -> jax.Array:
        # Master weights stay float32; bfloat16 is only the compute type.
        dtype = self.spec.compute_dtype
        compute = jax.tree.map(lambda p: p.astype(dtype), params)
        # Token ids (a language model's inputs) stay integers.
        inputs = x if jnp.issubdtype(x.dtype, jnp.integer) else x.astype(dtype)
        return nnx.merge(self.graphdef, compute)(inputs, dropout_rate=hparams["dropout"], key=key)

    def step(
        self,
        hparams: Hparams,
        data: DataArrays,
        dropout_key: jax.Array,
        carry: tuple,
        batch_index: jax.Array,
    ) -> tuple[tuple, jax.Array]:
        """One minibatch step on ``data["x_train"][batch_index]``: the training scan's body."""
        params, opt_state, diverged, step_i = carry
        tx = self.optimizer(hparams)
        x, y = data["x_train"][batch_index], data["y_train"][batch_index]

        def loss_fn(params: Any) -> jax.Array:
            logits = self.logits(hparams, params, x, jax.random.fold_in(dropout_key, step_i))
            smoothing = hparams["label_smoothing"]
            return _cross_entropy(logits, y, self.spec.num_classes, smoothing).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        # A NaN or inf loss marks the run diverged for good. The state is not
        # frozen per step (a select over every parameter and optimiser slot each
        # step costs more than it saves): what follows a NaN is never reported,
        # and ``train`` skips the epochs after the one that diverged.
        diverged = diverged | ~jnp.isfinite(loss)
        return (params, opt_state, diverged, step_i + 1), loss

    def eval_chunks(self, n: int) -> tuple[int, int]:
        """``(chunk, n_chunks)``: how an evaluation of ``n`` samples is split."""
        chunk = min(n, EVAL_CHUNK)
        return chunk, math.ceil(n / chunk)

    def eval_chunk(self, params: Any, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
        """``[summed loss, number correct]`` over the samples of one chunk where ``mask``.

        For sequence targets (labels [B, T], a language model) a sample's loss and
        accuracy are its means over the T positions.
        """
        logits = self.logits({"dropout": jnp.float32(0.0)}, params, x, None)
        loss = _cross_entropy(logits, y, self.spec.num_classes, 0.0)
        correct = jnp.argmax(logits, -1) == y
        loss, correct = (a.reshape(a.shape[0], -1).mean(-1) for a in (loss, correct))
        return jnp.stack([(loss * mask).sum(), (correct * mask).sum()])

    def evaluate(self, params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean loss and accuracy over a whole split, in chunks of ``EVAL_CHUNK``."""
        n = y.shape[0]
        chunk, n_chunks = self.eval_chunks(n)
        pad = n_chunks * chunk - n
        xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
            (n_chunks, chunk, *x.shape[1:])
        )
        ys = jnp.pad(y, [(0, pad)] + [(0, 0)] * (y.ndim - 1)).reshape(
            (n_chunks, chunk, *y.shape[1:])
        )
        mask = (jnp.arange(n_chunks * chunk) < n).reshape(n_chunks, chunk)

        def one(totals: jax.Array, inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, None]:
            return totals + self.eval_chunk(params, *inputs), None

        totals, _ = jax.lax.scan(one, jnp.zeros(2), (xs, ys, mask))
        return totals[0] / n, totals[1] / n

    def train(
        self,
        hparams: Hparams,
        key: jax.Array,
        data: DataArrays,
        start: TrainState | None = None,
        *,
        with_state: bool = False,
    ) -> dict[str, Any]:
        """The whole run: ``make_train_fn``'s function."""
        spec = self.spec
        steps, batch = spec.steps_per_epoch, spec.batch_size
        init_key, shuffle_key, dropout_key = jax.random.split(key, 3)

        def step(carry: tuple, batch_index: jax.Array) -> tuple[tuple, jax.Array]:
            return self.step(hparams, data, dropout_key, carry, batch_index)

        def run_epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            order = jax.random.permutation(epoch_key, spec.split_sizes[0])[: steps * batch]
            carry, losses = jax.lax.scan(step, carry, order.reshape(steps, batch))
            val_loss, val_acc = self.evaluate(carry[0], data["x_val"], data["y_val"])
            return carry, (losses.mean(), val_loss, val_acc)

        def skip_epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            return carry, (jnp.float32(jnp.nan),) * 3

        def epoch(carry: tuple, epoch_key: jax.Array) -> tuple[tuple, tuple]:
            # Once diverged, later epochs do no work (under vmap both branches run).
            carry, metrics = jax.lax.cond(carry[2], skip_epoch, run_epoch, carry, epoch_key)
            diverged = carry[2]
            nan = jnp.nan
            return carry, (*(jnp.where(diverged, nan, m) for m in metrics), diverged)

        init = self.init_carry(hparams, init_key) if start is None else self.carry(start)
        # Keyed by the epoch's number, so a continued run shuffles as an uninterrupted one.
        epochs = jnp.arange(spec.start_epoch, spec.epochs)
        epoch_keys = jax.vmap(lambda e: jax.random.fold_in(shuffle_key, e))(epochs)
        final, (train_loss, val_loss, val_acc, flags) = jax.lax.scan(epoch, init, epoch_keys)
        params, opt_state, diverged, step_i = final
        test_loss, test_acc = self.evaluate(params, data["x_test"], data["y_test"])
        first_bad = spec.start_epoch + jnp.argmax(flags)
        state = {"state": {"params": params, "opt_state": opt_state, "step": step_i}}
        return (state if with_state else {}) | {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_loss": jnp.where(diverged, jnp.nan, test_loss),
            "test_accuracy": jnp.where(diverged, jnp.nan, test_acc),
            "diverged": diverged,
            "diverged_epoch": jnp.where(diverged, first_bad, -1),
        }


def make_train_fn(spec: StaticSpec, with_state: bool = False) -> TrainFn:
    """Returns the pure training function ``(hparams, key, data, start=None) -> metrics``.

    Pure and shape-static, so it can be jit-compiled once per ``spec`` and
    ``vmap``-ed over (hparams, key) to run many trials as one program. ``data``
    holds ``x_train, y_train, x_val, y_val, x_test, y_test``. The metrics hold
    per-epoch ``train_loss, val_loss, val_accuracy`` (shape ``[run_epochs]``),
    the final ``test_loss, test_accuracy``, ``diverged`` and ``diverged_epoch``
    (0-based, counted from the first epoch of the whole run). ``start`` is a
    ``TrainState`` to continue from at ``spec.start_epoch``; ``with_state``
    adds ``"state"``, the ``TrainState`` after the last epoch.
    """
    trainer = Trainer(spec)

    def train(
        hparams: Hparams, key: jax.Array, data: DataArrays, start: TrainState | None = None
    ) -> dict[str, Any]:
        return trainer.train(hparams, key, data, start, with_state=with_state)

    return train


def abstract_state(spec: StaticSpec) -> TrainState:
    """The shapes and dtypes of ``spec``'s ``TrainState``: a target to restore into."""
    hparams = as_hparams(dict.fromkeys(HPARAM_NAMES, 0.0))
    return jax.eval_shape(Trainer(spec).init_state, hparams, jax.random.key(0))


def _lowered_flops(fn: Callable[..., Any], *args: Any) -> float:
    """FLOPs of one call of ``fn`` from XLA's cost analysis of its lowering (0 if unknown).

    Lowered for the CPU whatever the device: the count depends only on the
    program, and GPU lowerings carry no cost analysis before compilation.
    """
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args)
    attempts = (
        lambda: jax.jit(fn).trace(*shapes).lower(lowering_platforms=("cpu",)).cost_analysis(),
        lambda: jax.jit(fn).lower(*shapes).cost_analysis(),
        lambda: jax.jit(fn).lower(*shapes).compile().cost_analysis(),  # compiles one piece
    )
    for attempt in attempts:
        try:
            cost = attempt()
        except Exception:  # a backend or jax version without this path
            continue
        if isinstance(cost, (list, tuple)):  # older jax returned one dict per computation
            cost = cost[0] if cost else {}
        if cost and cost.get("flops"):
            return float(cost["flops"])
    return 0.0


def program_flops(spec: StaticSpec, data: DataArrays) -> float:
    """FLOPs of one whole trial of ``spec``'s program, counted piece by piece.

    XLA's cost analysis counts each ``lax.scan`` (while) body once, not once per
    iteration, so costing the whole program undercounts ~80x. Here one training
    step and one evaluation chunk are costed on their own and multiplied by how
    often the program runs them: ``total_steps`` steps, ``epochs`` validations
    and one test evaluation, plus the initialisation. Only shapes are used;
    nothing is compiled or run.
    """
    trainer = Trainer(spec)
    hparams = as_hparams(dict.fromkeys(HPARAM_NAMES, 0.0))
    key = jax.random.key(0)
    carry = jax.eval_shape(trainer.init_carry, hparams, key)
    batch_index = jax.ShapeDtypeStruct((spec.batch_size,), jnp.int32)

    def step(hparams: Hparams, data: DataArrays, key: jax.Array, carry: tuple, index: jax.Array):
        return trainer.step(hparams, data, key, carry, index)

    def eval_flops(split: str) -> float:
        x, n = data[f"x_{split}"], spec.split_sizes[SPLITS.index(split)]
        chunk, n_chunks = trainer.eval_chunks(n)
        xc = jax.ShapeDtypeStruct((chunk, *x.shape[1:]), x.dtype)
        y = data[f"y_{split}"]
        yc = jax.ShapeDtypeStruct((chunk, *y.shape[1:]), y.dtype)
        mask = jax.ShapeDtypeStruct((chunk,), jnp.bool_)
        return n_chunks * _lowered_flops(trainer.eval_chunk, carry[0], xc, yc, mask)

    step_flops = _lowered_flops(step, hparams, data, key, carry, batch_index)
    init_flops = _lowered_flops(trainer.init_carry, hparams, key)
    return (
        spec.total_steps * step_flops
        + spec.run_epochs * eval_flops("val")
        + eval_flops("test")
        + init_flops
    )


# --- the in-process cache of compiled programs ------------------------------


# Trials side by side in threads share these (hpfw.batch).
_COMPILING = threading.Lock()  # held while a program compiles
_REPORTING = threading.Lock()  # guards CompiledProgram.unreported


@dataclass
class CompiledProgram:
    """A compiled training program and what it cost to build."""

    run: Callable[..., dict[str, jax.Array]]
    compile_seconds: float
    flops: float  # per trial, from ``program_flops`` (0 when unavailable)
    cache: str = "off"  # the persistent cache: "hit" (loaded), "miss" (compiled), "off"
    unreported: bool = field(default=True, repr=False)

    def first_use(self) -> bool:
        """True for exactly one caller, the first: the trial that reports the compile."""
        with _REPORTING:
            first, self.unreported = self.unreported, False
        return first


_PROGRAMS: dict[tuple[StaticSpec, str, int, bool, bool], CompiledProgram] = {}
compile_count = 0  # how many programs this process has compiled (tests read it)


def compiled_program(
    spec: StaticSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int = 0,
    *,
    with_state: bool = False,
    resume: bool = False,
) -> CompiledProgram:
    """Returns the compiled program for ``spec`` on ``device``, compiling on first use.

    ``trials=0`` compiles the single-trial program; ``trials=n`` compiles a
    ``vmap`` over ``n`` trials (hparams, keys and start states batched, data
    shared). ``resume`` compiles the variant called as ``run(hparams, key,
    data, start)``; ``with_state`` the one that also returns the final state.
    """
    cache_key = (spec, str(device), trials, with_state, resume)
    program = _PROGRAMS.get(cache_key)
    if program is not None:
        return program
    # Trials side by side in threads ask for the same program at once: one
    # compiles it, the others wait for it rather than compiling it again.
    with _COMPILING:
        program = _PROGRAMS.get(cache_key)
        if program is None:
            program = _compile(spec, data, device, trials, with_state, resume)
            _PROGRAMS[cache_key] = program
    return program


def _compile(
    spec: StaticSpec,
    data: DataArrays,
    device: jax.Device,
    trials: int,
    with_state: bool,
    resume: bool,
) -> CompiledProgram:
    global compile_count
    fn = make_train_fn(spec, with_state=with_state)
    hp = as_hparams(dict.fromkeys(HPARAM_NAMES, 0.0))
    key = jax.random.key(0)
    args: tuple[Any, ...] = (hp, key, data)
    if resume:
        args += (abstract_state(spec),)
    if trials:
        fn = jax.vmap(fn, in_axes=(0, 0, None, 0) if resume else (0, 0, None))
        args = (
            {k: jnp.broadcast_to(v, (trials,)) for k, v in hp.items()},
            jax.random.split(key, trials),
            data,
            *(
                jax.tree.map(lambda a: jax.ShapeDtypeStruct((trials, *a.shape), a.dtype), s)
                for s in args[3:]
            ),
        )
    args = (*jax.device_put(args[:2], device), *args[2:])
    hits = devices.cache_hits()
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(*args)
    # XLA compiles without holding the GIL, so the FLOP count (Python tracing and
    # lowering, ~0.3 s) runs beside it instead of after it.
    with ThreadPoolExecutor(1) as pool:
        flops = pool.submit(program_flops, spec, data)
        compiled = lowered.compile(devices.compiler_options(device))
    seconds = time.perf_counter() - start
    compile_count += 1
    cache = "hit" if devices.cache_hits() > hits else "miss" if devices.cache_enabled() else "off"
    return CompiledProgram(compiled, seconds, flops.result(), cache)


# Keyed by id(); the value keeps the dataset alive so its id cannot be reused.
_DEVICE_DATA: dict[tuple[int, str], tuple[Dataset, DataArrays]] = {}


def device_arrays(dataset: Dataset, device: jax.Device) -> DataArrays:
    """The dataset's six arrays on ``device``, transferred once per process."""
    cache_key = (id(dataset), str(device))
    if cache_key not in _DEVICE_DATA:
        host = {f"{a}_{s}": np.asarray(getattr(dataset, f"{a}_{s}")) for s in SPLITS for a in "xy"}
        _DEVICE_DATA[cache_key] = (dataset, jax.device_put(host, device))
    return _DEVICE_DATA[cache_key][1]
