"""What padding costs one trial: compile and run seconds of its program, padded one way at a time.

Builds the trial's training program for each envelope (its own sizes, one
structural key padded, or the seed-wide MLP envelope of issue 14), compiles
it with hpfw's CPU options and runs it ``--runs`` times; prints the compile
seconds and the fastest run. The measurements in docs/structural.md ("What
one padded trial costs") were made this way.

    python benchmarks/bench_padding.py [--trial 128 1 32 adam] [--envelopes own width full]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
from hydra import compose, initialize_config_dir

from hpfw.config import config_dir, register_configs
from hpfw.trainer import device as devices
from hpfw.trainer.run import prepare
from hpfw.trainer.spec import placeholder_inputs
from hpfw.trainer.trainer import abstract_state, make_train_fn

ENVELOPES = {
    "own": None,
    "width": "{hidden_dim:[128,512],trials:1}",
    "layers": "{num_layers:[1,2,3,4],trials:1}",
    "batch": "{batch_size:[32,128],trials:1}",
    "optimizers": "{optimizer:[sgd,adam,adamw],trials:1}",
    "epochs": "{epochs:[10,30],trials:1}",
    "width_layers": "{hidden_dim:[128,512],num_layers:[1,2,3,4],trials:1}",
    "full": "{hidden_dim:[64,128,256,512],num_layers:[1,2,3,4],batch_size:[32,64,128],"
    "epochs:[10,20,30],optimizer:[sgd,adam,adamw],trials:1}",
}


def measure(overrides: list[str], runs: int) -> dict[str, float]:
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        run = prepare(compose("config", overrides=overrides))
    program = run.spec.program
    state = abstract_state(program)
    start = time.perf_counter()
    lowered = jax.jit(make_train_fn(program, with_state=True)).lower(
        placeholder_inputs(), jax.random.key(0), run.data, state
    )
    compiled = lowered.compile(devices.compiler_options(jax.devices()[0]))
    compile_s = time.perf_counter() - start
    zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), state)
    inputs, times = run.inputs(), []
    for _ in range(runs):
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(inputs, jax.random.key(0), run.data, zeros))
        times.append(time.perf_counter() - start)
    return {"compile_s": compile_s, "run_s": min(times), "loss0": float(out["train_loss"][0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial", nargs=4, default=["128", "1", "32", "adam"],
                        metavar=("HIDDEN", "LAYERS", "BATCH", "OPTIMIZER"))  # fmt: skip
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--envelopes", nargs="+", default=list(ENVELOPES), choices=ENVELOPES)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    register_configs()
    hidden, layers, batch, optimizer = args.trial
    trial = [
        "model=mlp", f"model.hidden_dim={hidden}", f"model.num_layers={layers}",
        f"trainer.batch_size={batch}", f"optimizer={optimizer}", f"trainer.epochs={args.epochs}",
        "trainer.compilation_cache_dir=null",
    ]  # fmt: skip
    for name in args.envelopes:
        envelope = ENVELOPES[name]
        extra = [f"trainer.envelope={envelope}"] if envelope else []
        figures = measure(trial + extra, args.runs)
        print(json.dumps({"envelope": name, **{k: round(v, 4) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
