"""The app of Hydra's docs on sweeping (tutorials/basic/running_your_hydra_app/multi-run).

Its primary config sweeps through ``hydra.sweeper.params``, as the docs show; a
command-line sweep of the same key takes precedence. hpfw's ``grid`` must run
the jobs Hydra's basic sweeper runs (tests/test_hydra_compat.py).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> None:
    print(f"driver={cfg.db.driver}, timeout={cfg.db.timeout}, schema={cfg.schema.name}")


if __name__ == "__main__":
    main()
