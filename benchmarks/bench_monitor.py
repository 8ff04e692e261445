"""What pruning costs hpfw's trainer: per epoch, and per process (the compile).

1. Per epoch, in one process, interleaved: the default digits MLP trained for
   27 epochs by the plain program; by the pruning program (an
   ``io_callback`` after every epoch) reporting through a real trial channel
   with a median pruner and with ASHA (neither prunes here); and the
   alternative the callback was chosen over, a one-epoch program called from
   a Python loop that reads the metrics back every epoch.
2. Per process: a fresh process compiles the plain program once and then
   loads it from JAX's persistent cache; the pruning program, which JAX does
   not cache on disk, is compiled by every new process.

    .venv/bin/python benchmarks/bench_monitor.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPOCHS = 27
OVERRIDES = [f"trainer.epochs={EPOCHS}", "trainer.batch_size=64"]


def _config(extra: list[str]):
    from hydra import compose, initialize_config_dir

    from hpfw.config import config_dir, register_configs

    register_configs()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("config", overrides=[*OVERRIDES, *extra])


def _channel(work: Path, pruner: dict, job: int):
    """A real trial channel: a sweep journal whose header holds ``pruner``."""
    from hpfw.pruning.api import channel_for
    from hpfw.sweeper.journal import Journal, started

    sweep = work / pruner["name"]
    journal = Journal(sweep)
    if not journal.exists():
        journal.write_header(
            {"strategy": "random", "direction": "maximize", "seed": 0, "pruner": pruner}
        )
    journal.append(started(job, job, {}))
    return channel_for(sweep, job, job)


def per_epoch(runs: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from hpfw.trainer.run import prepare, train_prepared
    from hpfw.trainer.spec import as_hparams
    from hpfw.trainer.trainer import Trainer

    cfg = _config(["trainer.compilation_cache_dir=null"])
    pruners = {
        "callback, median pruner": {
            "name": "median",
            "n_startup_trials": 10**6,
            "n_warmup_steps": 0,
            "interval_steps": 1,
            "n_min_trials": 1,
        },
        "callback, asha pruner": {
            "name": "asha",
            "min_budget": 1,
            "eta": 3,
            "min_early_stopping_rate": 0,
            "bootstrap_count": 0,
            "max_budget": EPOCHS,
        },
    }
    run = prepare(cfg)
    spec, data, trainer = run.spec, run.data, Trainer(run.spec)
    steps, batch = spec.steps_per_epoch, spec.batch_size

    @jax.jit
    def one_epoch(hparams, key, carry, epoch):
        _, shuffle_key, dropout_key = jax.random.split(key, 3)
        order = jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), spec.split_sizes[0])
        order = order[: steps * batch].reshape(steps, batch)
        carry, losses = jax.lax.scan(
            lambda c, b: trainer.step(hparams, data, dropout_key, c, b), carry, order
        )
        val_loss, val_acc = trainer.evaluate(carry[0], data["x_val"], data["y_val"])
        return carry, jnp.stack([losses.mean(), val_loss, val_acc])

    hparams, key = as_hparams(run.hparams), jax.random.key(0)
    carry0 = trainer.init_carry(hparams, jax.random.split(key, 3)[0])

    def python_loop() -> float:
        start, carry = time.perf_counter(), carry0
        for epoch in range(EPOCHS):
            carry, metrics = one_epoch(hparams, key, carry, epoch)
            np.asarray(metrics)  # read back each epoch, as a report and a decision need
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as work:
        job = iter(range(10**6))

        def trained(pruner: dict | None) -> float:
            prepared = prepare(cfg)
            prepared.channel = _channel(Path(work), pruner, next(job)) if pruner else None
            return train_prepared(prepared)["train_seconds"]

        kinds = {"plain program": lambda: trained(None)}
        kinds |= {name: (lambda p=p: trained(p)) for name, p in pruners.items()}
        kinds["one-epoch program, Python loop"] = python_loop
        for measure in kinds.values():
            measure()  # compile, warm up
        seconds: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(runs):
            for name, measure in kinds.items():
                seconds[name].append(measure())
    return {name: statistics.median(s) / EPOCHS * 1000 for name, s in seconds.items()}


def child(pruned: bool, cache: str) -> None:
    """One fresh process: the compile (or cache load) of the plain or the pruning program."""
    from hpfw.trainer.run import prepare, run_program

    class Channel:
        can_prune = True

    run = prepare(_config([f"trainer.compilation_cache_dir={cache}"]))
    run.channel = Channel() if pruned else None
    program = run_program(run)
    print(json.dumps({"seconds": program.compile_seconds, "cache": program.cache}))


def per_process(rounds: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"plain": [], "pruning": []}
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(rounds):
            for kind in found:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", kind, "--cache", cache],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                data = json.loads(out.stdout.strip().splitlines()[-1])
                found[kind].append(f"{data['seconds']:.2f} s ({data['cache']})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["plain", "pruning"])
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.child:
        child(args.child == "pruning", args.cache)
        return
    costs = per_epoch(args.runs)
    plain = costs["plain program"]
    print(f"per epoch, median of {args.runs} runs of {EPOCHS} epochs (default MLP, digits):")
    for name, ms in costs.items():
        print(f"  {name:34s} {ms:6.2f} ms  (+{ms - plain:5.2f} ms, {ms / plain:.2f}x)")
    print("per process (compile in a fresh process; the cache dir starts empty):")
    for kind, values in per_process(args.rounds).items():
        print(f"  {kind:8s} " + ", ".join(values))


if __name__ == "__main__":
    main()
