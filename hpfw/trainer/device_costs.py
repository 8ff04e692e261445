"""How fast a device trains and compiles: the cost model's constants, measured per platform.

``hpfw.trainer.costs`` estimates a sweep's time from these; the CPU's are a fit
to a seed-wide sweep's per-trial seconds (``benchmarks/fit_costs.py``,
docs/structural.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_GROUP = 1024  # trials per vmapped program, whatever memory allows (hpfw.trainer.groups)


def vmap_width(trials: int) -> int:
    """The power-of-two width a vmapped group of ``trials`` runs at.

    Programs are compiled for powers of two, so groups of other sizes reuse
    them; the extra lanes compute copies of the first trial.
    """
    return 1 << max(trials - 1, 0).bit_length()


@dataclass(frozen=True)
class DeviceCosts:
    """How fast one device trains and compiles (defaults measured: docs/structural.md)."""

    platform: str
    step_seconds: float  # fixed cost of one training step (vmapped: shared by the group)
    flops_per_second: float  # one trial's speed on its small matmuls
    param_seconds: float  # per weight a trial updates, per step (the optimiser's update)
    skipped_param_seconds: float  # per weight of a layer the trial skips, per step
    compile_seconds: Mapping[str, float]  # one dedicated program of each family
    parallel: int  # trials (and compiles) at a time
    vmapped: bool  # trials of one program run as one vmapped group
    compilers: int = 1  # vmapped: programs compiling at once on the host's cores


def device_costs(platform: str, cores: int) -> DeviceCosts:
    """The cost constants of ``platform`` ("cpu", "gpu", "tpu") with ``cores`` host cores.

    The CPU's are a fit to the 64 trials of a seed-wide MLP sweep on the 2-core
    development machine, as the sweep saw them (two trials side by side, the
    compiles beside them: ``benchmarks/fit_costs.py``, docs/structural.md); the
    accelerator's are a fit to vmapped groups of 1024 trials on an H200
    (``benchmarks/gpu_profile.py``, docs/benchmarks.md): a step of a group is
    about 110 us of launches plus memory traffic, about 10 passes over every
    trial's weights and optimiser moments (~1e-11 s per weight), plus its
    matmuls at ~80 TFLOP/s (60 at 32 rows of 256 units, 107 at 128 rows of 512).
    """
    if platform == "cpu":
        return DeviceCosts(
            "cpu",
            step_seconds=170e-6,
            flops_per_second=80e9,
            param_seconds=3.5e-9,
            skipped_param_seconds=0.3e-9,
            compile_seconds={"mlp": 6.0, "cnn": 7.5, "transformer": 12.0, "decoder": 15.0},
            parallel=max(1, cores),
            vmapped=False,
        )
    return DeviceCosts(
        platform,
        step_seconds=110e-6,
        flops_per_second=80e12,
        param_seconds=1.05e-11,
        skipped_param_seconds=0.0,  # vmapped, a trial runs every layer of its box
        # The MLP's measured (7.6-15.6 s for 1024-wide programs); the others scaled from
        # it as on the CPU, not measured on a GPU.
        compile_seconds={"mlp": 8.0, "cnn": 10.0, "transformer": 16.0, "decoder": 20.0},
        parallel=1,
        vmapped=True,
        # Five programs compiling at once on a 16-core H200 host took 26-53 s each against
        # 8-16 s alone: XLA's GPU compiles use several threads, so about cores / 4 at once.
        compilers=max(1, cores // 4),
    )


def micro_batches(platform: str) -> bool:
    """Whether a padded batch runs as micro-batches of the smallest (else masked rows).

    On a CPU a step's cost grows with its rows, so a trial of batch 32 in a
    program of batches 32-128 should do 32 rows of work, not 128: micro-batches.
    An accelerator runs a 128-row step in about the time of a 32-row one, and
    vmapped groups step together, so masked rows in one step are cheaper there.
    """
    return not device_costs(platform, 1).vmapped
