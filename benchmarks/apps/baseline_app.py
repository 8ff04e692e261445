"""The baseline a user would build today: a Hydra app with a per-step ``nnx.jit`` loop.

It has the shape of the Flax NNX MNIST example: per trial the model and the
``nnx.Optimizer`` are built from the config (so the trial's learning rate and
weight decay are Python floats inside the optimiser, and ``nnx.jit`` traces the
step again for every trial), then a Python loop runs the epochs and minibatches
with per-epoch NumPy shuffling and an evaluation of the validation split each
epoch. It uses hpfw's config tree, model and data so that only the training
loop and the sweep machinery differ from hpfw.
"""

import json
from pathlib import Path

import hydra
import jax
import numpy as np
import optax
from flax import nnx
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hpfw.config import config_dir, register_configs
from hpfw.data import load_dataset
from hpfw.models import build_model

register_configs()


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


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
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
    schedule = optax.cosine_decay_schedule(float(cfg.optimizer.lr), epochs * steps)
    tx = optax.chain(
        optax.add_decayed_weights(float(cfg.regularization.weight_decay)),
        optax.adam(schedule, b1=float(cfg.optimizer.b1), b2=float(cfg.optimizer.b2)),
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    return fit(cfg, data, model, optimizer)


def fit(cfg: DictConfig, data, model, optimizer) -> float:
    """The per-step loop over ``cfg.trainer``'s epochs; writes and returns the val accuracy."""
    epochs, batch = int(cfg.trainer.epochs), int(cfg.trainer.batch_size)
    steps = len(data.y_train) // batch
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
