"""Compile and run seconds of the structural sweeps' envelope programs, this code against another.

Builds the program of one trial in each envelope the issue-14 sweeps compile
(``bench_structural.py``'s MLP boxes, CNN and transformer), lowers and
compiles it with hpfw's CPU options and runs it three times (fastest run
reported), with no persistent cache. With ``--against DIR`` (a checkout of
hpfw, for example a ``git worktree`` of an earlier commit) the same
measurement runs in a child process importing that checkout instead,
alternating with this one round by round, so a slower moment of a shared
machine hits both. Every compile is timed in a process that has already
compiled one tiny program (XLA's first-compile set-up is left out).

    python benchmarks/bench_envelope_compile.py [--against /work/wt-head] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# name: (the trial's overrides, the envelope it trains in)
PROGRAMS = {
    "mlp 64-256": (
        "model=mlp model.hidden_dim=64 model.num_layers=2 trainer.batch_size=32 optimizer=adam"
        " trainer.epochs=10",
        "{hidden_dim:[64,128,256],num_layers:[1,2,3,4],batch_size:[32,64,128],"
        "epochs:[10,20,30],optimizer:[sgd,adam,adamw],trials:1}",
    ),
    "mlp 512": (
        "model=mlp model.hidden_dim=512 model.num_layers=2 trainer.batch_size=32 optimizer=adam"
        " trainer.epochs=10",
        "{num_layers:[1,2,3,4],batch_size:[32,64,128],epochs:[10,20,30],"
        "optimizer:[sgd,adam,adamw],trials:1}",
    ),
    "cnn": (
        "model=cnn model.channels=8 model.num_conv_layers=1 model.hidden_dim=32"
        " trainer.batch_size=32 optimizer=adam trainer.epochs=2",
        "{channels:[8,16,32],num_conv_layers:[1,2,3],hidden_dim:[32,64,128],"
        "batch_size:[32,64,128],epochs:[2,4,6],optimizer:[sgd,adam,adamw],trials:1}",
    ),
    "transformer": (
        "model=transformer model.num_heads=1 model.num_layers=1 model.d_model=16"
        " model.mlp_dim=32 trainer.batch_size=32 optimizer=adam trainer.epochs=2",
        "{num_heads:[1,2,4],num_layers:[1,2,3],d_model:[16,32,64],mlp_dim:[32,64,128],"
        "batch_size:[32,64,128],epochs:[2,4,6],optimizer:[sgd,adam,adamw],trials:1}",
    ),
}


def measure(names: list[str]) -> dict[str, dict[str, float]]:
    """Compile and fastest-run seconds of each named program, in this process."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from hydra import compose, initialize_config_dir

    from hpfw.config import config_dir, register_configs
    from hpfw.trainer import device as devices
    from hpfw.trainer.run import prepare
    from hpfw.trainer.spec import placeholder_inputs
    from hpfw.trainer.trainer import abstract_state, make_train_fn

    register_configs()
    options = devices.compiler_options(jax.devices()[0])
    jax.jit(lambda x: x + 1).lower(jnp.ones(3)).compile(options)
    figures = {}
    for name in names:
        trial, envelope = PROGRAMS[name]
        overrides = [*trial.split(), "trainer.compilation_cache_dir=null"]
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            run = prepare(compose("config", overrides=[*overrides, f"trainer.envelope={envelope}"]))
        program = run.spec.program
        state = abstract_state(program)
        start = time.perf_counter()
        lowered = jax.jit(make_train_fn(program, with_state=True)).lower(
            placeholder_inputs(), jax.random.key(0), run.data, state
        )
        compiled = lowered.compile(options)
        compile_s = time.perf_counter() - start
        zeros = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), state)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            jax.block_until_ready(compiled(run.inputs(), jax.random.key(0), run.data, zeros))
            runs.append(time.perf_counter() - start)
        figures[name] = {"compile_s": compile_s, "run_s": min(runs)}
    return figures


def in_checkout(checkout: Path, script: str, args: list[str]) -> Any:
    """The JSON on the last stdout line of ``script args``, run importing hpfw from ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, script, *args]
    out = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", nargs="+", default=list(PROGRAMS), choices=PROGRAMS)
    parser.add_argument("--against", type=Path, help="another hpfw checkout to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child)))
        return
    here = Path(__file__).resolve().parents[1]
    sides = {"this": here, **({"against": args.against.resolve()} if args.against else {})}
    results: dict[str, list[dict[str, dict[str, float]]]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, checkout in sides.items():
            results[side].append(in_checkout(checkout, __file__, ["--child", *args.programs]))
    for name in args.programs:
        medians = {}
        for side in sides:
            compiles = [r[name]["compile_s"] for r in results[side]]
            runs = [r[name]["run_s"] for r in results[side]]
            medians[side] = statistics.median(compiles)
            print(
                f"{name} {side}: compile {' '.join(f'{c:.2f}' for c in compiles)} s,"
                f" run {' '.join(f'{r:.3f}' for r in runs)} s"
            )
        if "against" in medians:
            print(f"{name}: compile, against / this = {medians['against'] / medians['this']:.2f}x")


if __name__ == "__main__":
    main()
