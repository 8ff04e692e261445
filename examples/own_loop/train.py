"""Your own training loop, pruned by hpfw: a NumPy MLP on scikit-learn's digits, no hpfw trainer.

Run once (hpfw.report and hpfw.should_prune do nothing outside a sweep)::

    python examples/own_loop/train.py lr=0.05

Sweep it, stopping poor trials early with the median pruner::

    python examples/own_loop/train.py -m hydra/sweeper=random hydra.sweeper.n_trials=30 \\
        'lr=tag(log, interval(1e-3, 1))' 'hidden=choice(16, 32, 64)' \\
        'hydra.sweeper.pruner={name: median, n_startup_trials: 5, n_warmup_steps: 3}'

The whole hpfw part is three lines in the epoch loop (marked ``hpfw``).
"""

from __future__ import annotations

import hydra
import numpy as np
from omegaconf import DictConfig
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import hpfw


def data(seed: int) -> tuple[np.ndarray, ...]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return tuple(train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y))


def loss_and_accuracy(params: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    logits = hidden @ params["w2"] + params["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean()), float((logits.argmax(1) == y).mean())


def sgd_step(params: dict, velocity: dict, x: np.ndarray, y: np.ndarray, cfg: DictConfig) -> None:
    """One minibatch of SGD with momentum (hand-derived gradients of the softmax MLP)."""
    pre = x @ params["w1"] + params["b1"]
    hidden = np.maximum(pre, 0.0)
    logits = hidden @ params["w2"] + params["b2"]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    p /= len(y)
    grads = {"w2": hidden.T @ p, "b2": p.sum(0)}
    back = (p @ params["w2"].T) * (pre > 0)
    grads |= {"w1": x.T @ back, "b1": back.sum(0)}
    for name, grad in grads.items():
        velocity[name] = cfg.momentum * velocity[name] - cfg.lr * (grad + cfg.l2 * params[name])
        params[name] += velocity[name]


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> float:
    x_train, x_val, y_train, y_val = data(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    params = {
        "w1": rng.normal(0, np.sqrt(2 / 64), (64, cfg.hidden)).astype(np.float32),
        "b1": np.zeros(cfg.hidden, np.float32),
        "w2": rng.normal(0, np.sqrt(1 / cfg.hidden), (cfg.hidden, 10)).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    val_loss = float("nan")
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            sgd_step(params, velocity, x_train[batch], y_train[batch], cfg)
        val_loss, val_accuracy = loss_and_accuracy(params, x_val, y_val)
        if not np.isfinite(val_loss):
            return float("nan")  # diverged: the sweep records it as such
        hpfw.report(epoch, val_loss, val_accuracy=val_accuracy)  # hpfw
        if hpfw.should_prune():  # hpfw
            raise hpfw.TrialPruned()  # hpfw
    return val_loss


if __name__ == "__main__":
    main()
