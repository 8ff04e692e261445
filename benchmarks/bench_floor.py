"""How fast can one trial of the default MLP go on this CPU? Floors beside hpfw and the loop.

The issue-2 targets compare one trial of hpfw with one trial of a per-step
``nnx.jit`` loop (>= 15x) and with the float32 matmul peak (>= 35%). This
script measures, in one run, programs that bound what any XLA:CPU trainer of
the same model, batch size and step count can reach:

- **adam floor**: a plain-JAX program of the same MLP step (biases, ReLU,
  softmax cross-entropy, ``optax.adam``; no Flax, dropout, schedule or
  evaluation), ``lax.scan`` over every step of the run;
- **matmul floor**: only the step's matrix products (forward, weight gradients,
  input gradients) and a plain weight update: no program that trains this MLP
  does less work per step;
- each on one core (a child process pinned to one CPU before JAX starts) and on
  both; and the adam program split over two virtual CPU devices, by batch (data
  parallel: the gradients are summed across devices every step) and by hidden
  unit (tensor parallel: one sum of activations per step), the two ways one
  trial could use both cores;
- hpfw's trial, loop (a) of ``bench_trainer.py`` (the issue's baseline), the
  same loop with the Flax NNX MNIST tutorial's per-step ``nnx.MultiMetric``
  (``tutorial_trial``), and the float32 matmul peak on one core and on all.

    python benchmarks/bench_floor.py [--trials 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _median_seconds(fn: Callable[[], Any], runs: int) -> float:
    import jax

    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _setup(epochs: int) -> dict[str, Any]:
    """The default config's MLP shapes, digits' training split and a run's batch order."""
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_trainer import compose_config

    from hpfw.data import load_dataset
    from hpfw.trainer.spec import static_spec

    cfg = compose_config([f"trainer.epochs={epochs}", "trainer.compilation_cache_dir=null"])
    dataset = load_dataset(cfg.data)
    spec = static_spec(cfg, dataset)
    dims = [int(np.prod(spec.input_shape))]
    dims += [int(cfg.model.hidden_dim)] * int(cfg.model.num_layers) + [spec.num_classes]
    rng = np.random.default_rng(0)
    steps, batch = spec.steps_per_epoch, spec.batch_size
    order = np.concatenate(
        [rng.permutation(len(dataset.y_train))[: steps * batch] for _ in range(spec.epochs)]
    ).reshape(-1, batch)
    x = jnp.asarray(dataset.x_train.reshape(len(dataset.x_train), -1))
    return {
        "cfg": cfg,
        "dims": dims,
        "x": x,
        "y": jnp.asarray(dataset.y_train),
        "order": jnp.asarray(order, jnp.int32),
        "batch": batch,
        "steps": spec.total_steps,
    }


def _matmul_flops(dims: Sequence[int], batch: int, steps: int) -> float:
    """The matmul floor's FLOPs: forward and weight gradients of every layer, input
    gradients of all but the first (nothing needs the gradient of the data)."""
    pairs = [a * b for a, b in itertools.pairwise(dims)]
    per_step = 2 * batch * (2 * sum(pairs) + sum(pairs[1:]))
    return float(per_step * steps)


def _programs(s: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    import jax
    import jax.numpy as jnp
    import optax

    x_all, y_all = s["x"], s["y"]
    tx = optax.adam(1e-3)

    def init(key: jax.Array) -> tuple[list, list]:
        keys = jax.random.split(key, len(s["dims"]) - 1)
        shapes = list(itertools.pairwise(s["dims"]))
        scaled = zip(keys, shapes, strict=True)
        weights = [jax.random.normal(k, shape) * shape[0] ** -0.5 for k, shape in scaled]
        return weights, [jnp.zeros(b) for _, b in shapes]

    def loss(params: tuple[list, list], x: jax.Array, y: jax.Array) -> jax.Array:
        h = x
        for i, (w, b) in enumerate(zip(*params, strict=True)):
            h = h @ w + b
            if i < len(params[0]) - 1:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, y).mean()

    def adam(params: tuple[list, list], order: jax.Array, shard: Callable = lambda t: t):
        def step(carry: tuple, index: jax.Array) -> tuple[tuple, jax.Array]:
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params, *shard((x_all[index], y_all[index])))
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        return jax.lax.scan(step, (params, tx.init(params)), order)[0][0]

    def matmuls(weights: list, order: jax.Array) -> list:
        def step(weights: list, index: jax.Array) -> tuple[list, None]:
            acts = [x_all[index]]
            for w in weights:
                acts.append(acts[-1] @ w)
            grad, new = acts[-1], []
            for w, a in zip(reversed(weights), reversed(acts[:-1]), strict=True):
                new.append(w - 1e-3 * (a.T @ grad))
                grad = grad @ w.T  # unused after the first layer: XLA drops it
            return new[::-1], None

        return jax.lax.scan(step, weights, order)[0]

    return {"init": init, "adam": adam, "matmuls": matmuls}


def measure_floors(epochs: int, runs: int) -> dict[str, float]:
    """Seconds per trial of the two floor programs, in this process."""
    import jax

    s = _setup(epochs)
    p = _programs(s)
    params = p["init"](jax.random.key(0))
    adam, matmuls = jax.jit(p["adam"]), jax.jit(p["matmuls"])
    return {
        "adam_s": _median_seconds(lambda: adam(params, s["order"]), runs),
        "matmuls_s": _median_seconds(lambda: matmuls(params[0], s["order"]), runs),
        "matmul_flops": _matmul_flops(s["dims"], s["batch"], s["steps"]),
    }


def measure_split(epochs: int, runs: int) -> dict[str, float]:
    """The adam program on one device, and split over two virtual CPU devices."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    s = _setup(epochs)
    p = _programs(s)
    mesh = Mesh(np.array(jax.devices()[:2]), ("d",))
    rep = NamedSharding(mesh, P())
    params = p["init"](jax.random.key(0))
    one = jax.jit(p["adam"])

    def by_batch(batch: tuple) -> tuple:
        x, y = batch
        return (
            jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P("d", None))),
            jax.lax.with_sharding_constraint(y, NamedSharding(mesh, P("d"))),
        )

    data_parallel = jax.jit(lambda params, order: p["adam"](params, order, by_batch))
    # Megatron-style: the first layer's columns and the second's rows split by device.
    layout = (
        [NamedSharding(mesh, P(None, "d")), NamedSharding(mesh, P("d", None)), rep],
        [NamedSharding(mesh, P("d")), rep, rep],
    )
    tensor_parallel = jax.jit(p["adam"], in_shardings=(layout, rep), out_shardings=layout)
    replicated = jax.device_put(params, rep)
    order = jax.device_put(s["order"], rep)
    return {
        "one_device_s": _median_seconds(lambda: one(params, s["order"]), runs),
        "data_parallel_s": _median_seconds(lambda: data_parallel(replicated, order), runs),
        "tensor_parallel_s": _median_seconds(
            lambda: tensor_parallel(jax.device_put(params, layout), order), runs
        ),
    }


def measure_peak(runs: int) -> float:
    import jax

    sys.path.insert(0, str(HERE))
    from bench_trainer import matmul_peak

    return matmul_peak(jax.devices()[0], (256, 512, 1024), runs)["flops_per_second"]


def measure_hpfw(epochs: int, runs: int) -> dict[str, float]:
    """hpfw's trial: ``train_and_evaluate`` wall seconds (median) and its FLOPs."""
    sys.path.insert(0, str(HERE))
    from bench_trainer import compose_config, hpfw_trial

    cfg = compose_config([f"trainer.epochs={epochs}", "trainer.compilation_cache_dir=null"])
    first = hpfw_trial(cfg)
    walls = [hpfw_trial(cfg)["wall_seconds"] for _ in range(runs)]
    return {"hpfw_s": statistics.median(walls), "hpfw_flops": first["flops"]}


def child(kind: str, epochs: int, runs: int) -> dict[str, Any]:
    if kind == "one_core":
        out = measure_floors(epochs, runs) | measure_hpfw(epochs, runs)
        return out | {"peak": measure_peak(runs)}
    return measure_split(epochs, runs)


def run_child(kind: str, epochs: int, runs: int) -> dict[str, Any]:
    env = dict(os.environ)
    prefix: list[str] = []
    if kind == "one_core":
        prefix = ["taskset", "-c", str(min(os.sched_getaffinity(0)))]
    else:
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
        ).strip()
    command = [*prefix, sys.executable, __file__, "--child", kind]
    command += ["--epochs", str(epochs), "--runs", str(runs)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def tutorial_trial(cfg: Any, dataset: Any) -> float:
    """Loop (a) with the Flax NNX MNIST tutorial's per-step ``nnx.MultiMetric``: seconds.

    The tutorial's ``train_step(model, optimizer, metrics, batch)`` also updates
    accuracy and mean-loss metrics every step (computed and reset each epoch),
    and its ``eval_step`` feeds the same metrics object. Otherwise as loop (a):
    the same model, initial weights, optimiser rebuilt per trial, data order.
    """
    import jax
    import numpy as np
    import optax
    from bench_trainer import baseline_setup
    from flax import nnx

    @nnx.jit
    def train_step(
        model: nnx.Module,
        optimizer: nnx.Optimizer,
        metrics: nnx.MultiMetric,
        batch: dict[str, Any],
        dropout_rate: float,
        key: jax.Array,
    ) -> None:
        def loss_fn(model: nnx.Module) -> tuple[jax.Array, jax.Array]:
            logits = model(batch["x"], dropout_rate=dropout_rate, key=key)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
            return loss, logits

        (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        metrics.update(loss=loss, logits=logits, labels=batch["y"])
        optimizer.update(model, grads)

    @nnx.jit
    def eval_step(model: nnx.Module, metrics: nnx.MultiMetric, batch: dict[str, Any]) -> None:
        logits = model(batch["x"], dropout_rate=0.0, key=None)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        metrics.update(loss=loss, logits=logits, labels=batch["y"])

    start = time.perf_counter()
    model, optimizer, dropout_key = baseline_setup(cfg, dataset, rebuild_tx=True)
    batch, epochs = int(cfg.trainer.batch_size), int(cfg.trainer.epochs)
    n = len(dataset.y_train)
    steps = n // batch
    metrics = nnx.MultiMetric(accuracy=nnx.metrics.Accuracy(), loss=nnx.metrics.Average("loss"))
    rng, dropout = np.random.default_rng(int(cfg.trainer.seed)), float(cfg.regularization.dropout)
    for epoch in range(epochs):
        order = rng.permutation(n)
        for i in range(steps):
            index = order[i * batch : (i + 1) * batch]
            data = {"x": dataset.x_train[index], "y": dataset.y_train[index]}
            key = jax.random.fold_in(dropout_key, epoch * steps + i)
            train_step(model, optimizer, metrics, data, dropout, key)
        metrics.compute()
        metrics.reset()
        eval_step(model, metrics, {"x": dataset.x_val, "y": dataset.y_val})
        metrics.compute()
        metrics.reset()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="timed loop (a) trials")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each program")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--child", choices=("one_core", "split"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.epochs, args.runs)))
        return 0

    import jax

    sys.path.insert(0, str(HERE))
    from bench_trainer import CompileCounter, baseline_trial, trial_overrides

    from hpfw.data import load_dataset

    print(f"device: {jax.devices()[0]}; cores: {len(os.sched_getaffinity(0))}", flush=True)
    all_cores = measure_floors(args.epochs, args.runs) | measure_hpfw(args.epochs, args.runs)
    all_cores["peak"] = measure_peak(args.runs)
    one_core = run_child("one_core", args.epochs, args.runs)
    split = run_child("split", args.epochs, args.runs)

    s = _setup(args.epochs)
    cfg, dataset = s["cfg"], load_dataset(s["cfg"].data)
    CompileCounter.install()
    sys.path.insert(0, str(HERE))
    from bench_trainer import compose_config

    base = [f"trainer.epochs={args.epochs}", "trainer.compilation_cache_dir=null"]
    configs = [compose_config(trial_overrides(base, cfg, i)) for i in range(args.trials + 1)]
    device = jax.devices()[0]
    loop, tutorial = [], []
    for c in configs:  # interleaved, so load spikes hit both alike
        loop.append(baseline_trial(c, dataset, device, rebuild_tx=True)["wall_seconds"])
        tutorial.append(tutorial_trial(c, dataset))
    # The first of each also compiles the evaluation step.
    loop_s, tutorial_s = statistics.median(loop[1:]), statistics.median(tutorial[1:])

    flops = all_cores["matmul_flops"]
    rows = [
        ("loop (a): per-step nnx.jit, as a user writes it", "all", loop_s, None),
        ("loop (a) + the tutorial's per-step MultiMetric", "all", tutorial_s, None),
        ("hpfw: one trial (train_and_evaluate)", "all", all_cores["hpfw_s"], "hpfw"),
        ("hpfw: one trial", "one", one_core["hpfw_s"], "hpfw"),
        ("adam floor: plain-JAX step, no dropout/eval", "all", all_cores["adam_s"], None),
        ("adam floor", "one", one_core["adam_s"], None),
        ("matmul floor: the step's matmuls only", "all", all_cores["matmuls_s"], "mm"),
        ("matmul floor", "one", one_core["matmuls_s"], "mm"),
        ("adam floor on one of two virtual devices", "one dev", split["one_device_s"], None),
        ("adam floor split by batch (data parallel)", "two dev", split["data_parallel_s"], None),
        ("adam floor split by unit (tensor parallel)", "two dev", split["tensor_parallel_s"], None),
    ]
    peak_all, peak_one = all_cores["peak"], one_core["peak"]
    print(f"float32 matmul peak: {peak_all / 1e9:.1f} GFLOP/s (all cores), "
          f"{peak_one / 1e9:.1f} GFLOP/s (one core)")  # fmt: skip
    print(f"{'program':<50} {'cores':>7} {'ms/trial':>9} {'loop/it':>8} {'GFLOP/s':>8} "
          f"{'% all-core peak':>15}")  # fmt: skip
    table = []
    for label, cores, seconds, counted in rows:
        n_flops = {"hpfw": all_cores["hpfw_flops"], "mm": flops}.get(counted or "")
        rate = n_flops / seconds if n_flops else None
        table.append({"program": label, "cores": cores, "seconds": seconds, "flops_per_s": rate})
        rate_cols = f"{rate / 1e9:>8.1f} {100 * rate / peak_all:>14.1f}%" if rate else ""
        print(f"{label:<50} {cores:>7} {1e3 * seconds:>9.1f} {loop_s / seconds:>7.1f}x {rate_cols}")
    best = min(all_cores["matmuls_s"], one_core["matmuls_s"])
    print(
        f"bound: no single-trial program of this MLP step runs faster than the matmul floor, "
        f"so loop (a) / hpfw <= {loop_s / best:.1f}x ({tutorial_s / best:.1f}x against the "
        f"tutorial-shaped loop; target 15x) and one trial reaches <= "
        f"{100 * flops / best / peak_all:.0f}% of the all-core peak from its matmuls"
    )
    if args.json:
        figures = {"all_cores": all_cores, "one_core": one_core, "split": split}
        figures |= {"loop_s": loop_s, "tutorial_loop_s": tutorial_s}
        Path(args.json).write_text(json.dumps(figures | {"table": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
