"""A Hydra app with its own training loop that reports a learning curve and can be pruned.

Not hpfw's trainer: it stands for any user's loop. Each "epoch" the loss is
``(x - 0.3)**2 + 1 / epoch``, so trials far from 0.3 are worse at every step.
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig

import hpfw


@hydra.main(version_base="1.3", config_path=".", config_name="curve")
def main(cfg: DictConfig) -> float:
    loss = float("nan")
    for epoch in range(1, cfg.epochs + 1):
        if cfg.sleep and (cfg.slow_below is None or cfg.x < cfg.slow_below):
            time.sleep(cfg.sleep)
        loss = (cfg.x - 0.3) ** 2 + 1.0 / epoch
        hpfw.report(epoch, loss, lr_scale=cfg.x)
        if hpfw.should_prune():
            if cfg.on_prune == "raise":
                raise hpfw.TrialPruned()
            return loss  # returning after should_prune() also ends it as pruned
    return loss


if __name__ == "__main__":
    main()
