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

import json
from pathlib import Path

import hydra
import jax
import numpy as np
import optax
from flax import nnx
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
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


@nnx.jit
def train_step(model, optimizer, x, y, dropout_rate, key):
    def loss_fn(model):
        logits = model(x, dropout_rate=dropout_rate, key=key)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def eval_step(model, x, y):
    logits = model(x, dropout_rate=0.0, key=None)
    return (logits.argmax(-1) == y).mean()


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
    rng = np.random.default_rng(int(cfg.trainer.seed))
    key = jax.random.key(int(cfg.trainer.seed))
    dropout = float(cfg.regularization.dropout)
    accuracy = 0.0
    for epoch in range(epochs):
        order = rng.permutation(len(data.y_train))
        for step in range(steps):
            index = order[step * batch : (step + 1) * batch]
            step_key = jax.random.fold_in(key, epoch * steps + step)
            x, y = data.x_train[index], data.y_train[index]
            train_step(model, optimizer, x, y, dropout, step_key)
        accuracy = float(eval_step(model, data.x_val, data.y_val))
    out = Path(HydraConfig.get().runtime.output_dir) / "result.json"
    out.write_text(json.dumps({"val_accuracy": accuracy}))
    return accuracy


if __name__ == "__main__":
    main()
