"""The Hydra app behind ``hpfw``: compose the config, train, return the metrics."""

from __future__ import annotations

import os
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from hpfw.config import config_dir, register_configs
from hpfw.errors import HpfwError

register_configs()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def main(cfg: DictConfig) -> Any:
    from hpfw.run import task  # JAX loads only once Hydra has a job to run

    hydra_cfg = HydraConfig.get()
    try:
        return task(cfg, output_dir=hydra_cfg.runtime.output_dir)
    except HpfwError as error:
        # A single run reports bad input as one line and exit status 2. In a
        # multirun the error must reach the sweeper, which records the trial as
        # failed and carries on.
        if hydra_cfg.mode == RunMode.MULTIRUN or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"hpfw: error: {error}", file=sys.stderr)
        sys.exit(2)
