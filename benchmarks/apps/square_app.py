"""A trivial Hydra task (it squares a number): what remains is the sweep's own overhead."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg: DictConfig) -> float:
    return float(cfg.x) ** 2


if __name__ == "__main__":
    main()
