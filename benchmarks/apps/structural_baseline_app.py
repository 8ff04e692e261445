"""The baseline for structural sweeps: a Hydra app with a per-step ``nnx.jit`` loop.

As ``baseline_app.py`` (the shape of the Flax NNX MNIST example: the model
and ``nnx.Optimizer`` built per trial, a Python loop over epochs and batches,
an evaluation of the validation split each epoch), but every structural value
comes from the config as a user would write it: the model's sizes, the batch
size, the epochs and the optimiser family (sgd with momentum, adam, adamw,
weight decay as hpfw applies it). Each new architecture, batch size or
optimiser is a new program for ``nnx.jit``. It uses hpfw's config tree, model
and data so that only the training loop and the sweep machinery differ.
"""

import hydra
import optax

# The same steps and loop as the continuous-only baseline (this script's directory is on
# sys.path when Hydra runs it).
from baseline_app import fit
from flax import nnx
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from hpfw.config import config_dir, register_configs
from hpfw.data import load_dataset
from hpfw.models import build_model

register_configs()
# hpfw's config groups without conf/config.yaml's hydra.sweeper settings (objective,
# direction), which only hpfw's sweeper has: hydra-optuna-sweeper's schema refuses them.
ConfigStore.instance().store(
    name="baseline",
    node={
        "defaults": [
            "/schema/hpfw@_here_",
            {"model": "mlp"},
            {"optimizer": "adam"},
            {"regularization": "default"},
            {"data": "digits"},
            {"trainer": "default"},
            {"task": "classify"},
            "_self_",
        ]
    },
)


def optimizer_of(cfg: DictConfig, total_steps: int) -> optax.GradientTransformation:
    opt, decay = cfg.optimizer, float(cfg.regularization.weight_decay)
    schedule = optax.cosine_decay_schedule(float(opt.lr), total_steps)
    if opt.name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(decay),
            optax.sgd(schedule, momentum=float(opt.momentum), nesterov=bool(opt.nesterov)),
        )
    if opt.name == "adam":
        return optax.chain(
            optax.add_decayed_weights(decay),
            optax.adam(schedule, b1=float(opt.b1), b2=float(opt.b2)),
        )
    return optax.adamw(schedule, b1=float(opt.b1), b2=float(opt.b2), weight_decay=decay)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="baseline")
def main(cfg: DictConfig) -> float:
    data = load_dataset(cfg.data)
    epochs, batch = int(cfg.trainer.epochs), int(cfg.trainer.batch_size)
    steps = len(data.y_train) // batch
    model = build_model(
        cfg.model,
        input_shape=data.feature_shape,
        num_classes=data.num_classes,
        rngs=nnx.Rngs(int(cfg.trainer.seed)),
    )
    optimizer = nnx.Optimizer(model, optimizer_of(cfg, epochs * steps), wrt=nnx.Param)
    return fit(cfg, data, model, optimizer)


if __name__ == "__main__":
    main()
