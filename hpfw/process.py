"""What a process that may run JAX sets before JAX starts a GPU backend.

Importing hpfw changes nothing in the environment; the places where processes
start call ``allocate_gpu_memory_on_demand``: the ``hpfw`` command, the
batched launcher, the sweep loop (whose bayes model may use JAX in any app's
sweeper process), and every trial's first device selection (which is where a
worker of another launcher, such as joblib, submitit or ray, first touches JAX).
"""

from __future__ import annotations

import os

PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"


def allocate_gpu_memory_on_demand() -> None:
    """JAX allocates GPU memory as it needs it, unless the user set ``PREALLOCATE``.

    By default JAX's GPU backend grabs 75% of every visible GPU in every
    process, so concurrent trials (and the sweeper's own Bayesian model) could
    not share a node. Takes effect only before JAX starts its GPU backend; a
    value the user set is kept.
    """
    os.environ.setdefault(PREALLOCATE, "false")
