"""Do this machine's cores add up? The same single-threaded work alone, then two processes at once.

A sweep on a CPU trains trials side by side, one per core, and compiles
programs at the same time (docs/structural.md). That pays only if the cores
add up. This script runs each workload in one child process, then in two at
once (each child single-threaded: ``--xla_cpu_multi_thread_eigen=false``),
and prints each child's rate:

- ``matmul``: 2,000 chained 128x512 by 512x512 products in one jitted
  ``lax.fori_loop`` (GFLOP/s, after a warm-up call);
- ``compile``: XLA compiling a fresh 4-layer MLP training step (seconds);
- ``python``: a pure-Python integer loop (seconds), for contrast.

Two children at once that each keep their lone rate mean the cores add up;
half the rate each means the two share one core's units (for example two
hyperthreads of one physical core, which a VM may list as two cores).

    python benchmarks/bench_cores.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

SINGLE_THREADED = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def matmul() -> float:
    import jax
    import jax.numpy as jnp

    rows, width, steps = 128, 512, 2000

    @jax.jit
    def chain(x: jax.Array, w: jax.Array) -> jax.Array:
        return jax.lax.fori_loop(0, steps, lambda i, x: jnp.tanh(x @ w), x)

    x, w = jnp.full((rows, width), 0.01), jnp.full((width, width), 0.001)
    chain(x, w).block_until_ready()
    start = time.perf_counter()
    chain(x, w).block_until_ready()
    return 2 * rows * width * width * steps / (time.perf_counter() - start) / 1e9


def compile_seconds() -> float:
    import jax
    import jax.numpy as jnp
    import optax

    sizes = [64, 512, 512, 512, 512, 10]
    shapes = list(itertools.pairwise(sizes))
    keys = jax.random.split(jax.random.key(0), len(shapes))
    params = [jax.random.normal(k, shape) for k, shape in zip(keys, shapes, strict=True)]
    optimizer = optax.adam(1e-3)

    def loss(params: list, x: jax.Array, y: jax.Array) -> jax.Array:
        for w in params[:-1]:
            x = jax.nn.relu(x @ w)
        return optax.softmax_cross_entropy_with_integer_labels(x @ params[-1], y).mean()

    def train(params: list, x: jax.Array, y: jax.Array) -> list:
        def step(carry: tuple, _: None) -> tuple:
            params, state = carry
            updates, state = optimizer.update(jax.grad(loss)(params, x, y), state)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), None, length=100)[0][0]

    lowered = jax.jit(train).lower(params, jnp.zeros((32, 64)), jnp.zeros(32, jnp.int32))
    start = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - start


def python_loop() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - start


WORKLOADS = {"matmul": matmul, "compile": compile_seconds, "python": python_loop}


def children(workload: str, at_once: int) -> list[float]:
    env = {**os.environ, "XLA_FLAGS": SINGLE_THREADED, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", workload]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(at_once)
    ]
    return [json.loads(p.communicate()[0]) for p in procs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(WORKLOADS[args.child]()))
        return 0
    cores = len(os.sched_getaffinity(0))
    print(f"cores this process may use: {cores}; load average {os.getloadavg()[0]:.1f}")
    unit = {"matmul": "GFLOP/s", "compile": "s", "python": "s"}
    for workload in WORKLOADS:
        for _ in range(args.repeats):
            alone = children(workload, 1)
            pair = children(workload, 2)
            both = " and ".join(f"{v:.3g}" for v in pair)
            line = f"{workload}: alone {alone[0]:.3g} {unit[workload]}; two at once {both}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
