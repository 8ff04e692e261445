"""Whether a change to the random draws (initial weights, dropout) changed accuracy: paired seeds.

Draws ``--configs`` random configs of a structural sweep's space (the MLP's or
the CNN's in ``bench_structural.py``), trains each on its own program with
seeds ``0 .. --seeds - 1`` in this checkout and in ``--against`` (another
hpfw checkout, run in a child process importing it), and reports the mean
validation accuracy of the last and of the best epoch, and the paired
difference per config with its standard error. Other draws of the same
distributions show a difference within about two standard errors.

    python benchmarks/bench_draws.py --model mlp --against /work/wt-head [--configs 16] [--seeds 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_envelope_compile import in_checkout


def overrides(model: str, rng: np.random.Generator) -> list[str]:
    """One random config of the setting's space (``bench_structural.SETTINGS``)."""
    common = [
        f"optimizer={rng.choice(['sgd', 'adam', 'adamw'])}",
        f"optimizer.lr={10 ** rng.uniform(-4, np.log10(0.03))}",
        f"regularization.weight_decay={10 ** rng.uniform(-6, -2)}",
        f"regularization.dropout={rng.uniform(0, 0.5)}",
        f"trainer.batch_size={rng.choice([32, 64, 128])}",
    ]
    if model == "mlp":
        return [
            *common, "model=mlp", f"model.hidden_dim={rng.choice([64, 128, 256, 512])}",
            f"model.num_layers={rng.integers(1, 5)}", f"trainer.epochs={rng.choice([10, 20, 30])}",
        ]  # fmt: skip
    return [
        *common, "model=cnn", f"model.channels={rng.choice([8, 16, 32])}",
        f"model.num_conv_layers={rng.integers(1, 4)}",
        f"model.hidden_dim={rng.choice([32, 64, 128])}", f"trainer.epochs={rng.choice([2, 4, 6])}",
    ]  # fmt: skip


def measure(model: str, configs: int, seeds: int) -> list[list[list[float]]]:
    """``[config][seed] = [last epoch's, best epoch's validation accuracy]``, in this process."""
    import jax
    from hydra import compose, initialize_config_dir

    from hpfw.config import config_dir, register_configs
    from hpfw.trainer.run import prepare
    from hpfw.trainer.trainer import make_train_fn

    register_configs()
    rng = np.random.default_rng(123)
    out = []
    for _ in range(configs):
        chosen = [*overrides(model, rng), "trainer.compilation_cache_dir=null"]
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            run = prepare(compose("config", overrides=chosen))
        train = jax.jit(make_train_fn(run.spec))
        per_seed = []
        for seed in range(seeds):
            metrics = train(run.inputs(), jax.random.key(seed), run.data)
            accuracy = np.asarray(metrics["val_accuracy"])
            per_seed.append([float(accuracy[-1]), float(np.nanmax(accuracy))])
        out.append(per_seed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--against", type=Path, required=True, help="another hpfw checkout")
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.configs, args.seeds)))
        return
    this = np.array(measure(args.model, args.configs, args.seeds))
    child = ["--child", "--model", args.model, "--against", "-",
             "--configs", str(args.configs), "--seeds", str(args.seeds)]  # fmt: skip
    other = np.array(in_checkout(args.against.resolve(), __file__, child))
    for j, epoch in enumerate(["last epoch", "best epoch"]):
        diff = this[:, :, j].mean(1) - other[:, :, j].mean(1)
        se = diff.std(ddof=1) / len(diff) ** 0.5
        print(
            f"{args.model}, {args.configs} configs x {args.seeds} seeds, {epoch}: this "
            f"{this[:, :, j].mean():.4f}, against {other[:, :, j].mean():.4f}, paired "
            f"{diff.mean():+.4f} (se {se:.4f})"
        )


if __name__ == "__main__":
    main()
