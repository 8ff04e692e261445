"""A small Hydra app that is not hpfw's trainer: the sweeper must work with any app."""

from __future__ import annotations

import math
import os
import random
import signal
import time

import hydra
from omegaconf import DictConfig

# submitit waits up to 15 s for the result file of a job that has ended, for network file
# systems that show it late; a SIGKILLed job never writes one, so a test that kills a
# worker would wait 15 s at each launch that meets it. On a local disk the file of a job
# that ended is already there: a test may shorten the wait (the driver reads this).
if os.environ.get("TOY_SUBMITIT_RESULTS_TIMEOUT_S"):
    from submitit.core.core import Job

    Job._results_timeout_s = float(os.environ["TOY_SUBMITIT_RESULTS_TIMEOUT_S"])


@hydra.main(version_base="1.3", config_path=".", config_name="toy")
def main(cfg: DictConfig) -> object:
    if cfg.sleep:
        time.sleep(cfg.sleep)
    if cfg.die_above is not None and cfg.x > cfg.die_above:
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-trial
    if cfg.fail_above is not None and cfg.x > cfg.fail_above:
        raise RuntimeError(f"x={cfg.x} is too large for this toy")
    if cfg.nan_below is not None and cfg.x < cfg.nan_below:
        return math.nan
    loss = (cfg.x - 0.3) ** 2 + 0.01 * (cfg.n - 3) ** 2 + cfg.opt.penalty
    if cfg.noise:
        # Observation noise, the same for the same x (reproducible), as a seed moves accuracy.
        loss += cfg.noise * random.Random(repr(cfg.x)).gauss(0.0, 1.0)
    if cfg.returns == "mapping":
        # coarse_accuracy moves in steps of 1/4, as accuracy on a small split does: trials tie.
        coarse = math.floor((1.0 - loss) * 4) / 4
        return {"loss": loss, "accuracy": 1.0 - loss, "coarse_accuracy": coarse}
    if cfg.returns == "text":
        return "not a number"
    return loss


if __name__ == "__main__":
    main()
