"""A Hydra app, not hpfw's trainer, following the contract of docs/early-stopping.md.

It "trains" a loss that decays towards a floor set by ``x``, one epoch at a
time, with a step size that anneals over ``schedule_epochs``. It continues from
the latest checkpoint in ``checkpoint_dir`` below ``epochs``, saves its state
at ``epochs`` and returns how far it started, so tests can see promotions
continue rather than restart.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig


def latest(directory: Path, before: int) -> tuple[int, dict] | None:
    found = []
    for path in directory.glob("epoch_*.json"):
        epoch = int(path.stem.removeprefix("epoch_"))
        if epoch < before:
            found.append((epoch, path))
    if not found:
        return None
    epoch, path = max(found)
    return epoch, json.loads(path.read_text())


@hydra.main(version_base="1.3", config_path=".", config_name="budget")
def main(cfg: DictConfig) -> dict[str, float]:
    if cfg.sleep:
        time.sleep(cfg.sleep)
    horizon = cfg.schedule_epochs or cfg.epochs
    floor = (cfg.x - 0.3) ** 2 + 0.1 * cfg.opt_penalty
    start, state = 0, {"loss": 1.0 + floor}
    directory = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    if directory is not None and (found := latest(directory, cfg.epochs)) is not None:
        start, state = found
    loss = state["loss"]
    for epoch in range(start, cfg.epochs):
        step = cfg.speed * (1.0 - epoch / (horizon + 1))  # anneals over the horizon
        loss = floor + (loss - floor) * (1.0 - step)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"epoch_{cfg.epochs}.json").write_text(json.dumps({"loss": loss}))
    print(f"objective={loss!r} start_epoch={start}")
    # cost: a second objective for multi-objective sweeps (it trades off with loss below 0.3).
    return {
        "objective": loss,
        "cost": 10.0 * cfg.x,
        "start_epoch": float(start),
        "epochs_trained": cfg.epochs - start,
    }


if __name__ == "__main__":
    main()
