"""hpfw's own trainer from Python: ``hpfw.compose``, ``hpfw.train`` and ``hpfw.train_many``.

The config is composed from hpfw's ``conf/`` tree with Hydra's compose API,
exactly as the ``hpfw`` command composes it, so ``hpfw.train(["model=cnn"])``
trains what ``hpfw model=cnn`` trains and returns what its task function
returns to a sweeper. That makes ``hpfw.sweep(lambda p: hpfw.train([...]), ...)``
a whole sweep of hpfw's trainer without Hydra's command line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from omegaconf import DictConfig

from hpfw.config import config_dir, register_configs
from hpfw.tasks import task_for

# Hydra's compose API keeps its state in a process-wide singleton.
_COMPOSING = threading.Lock()


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """hpfw's config with ``overrides`` (``["model=cnn", "optimizer.lr=0.01"]``)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of strings such as ['optimizer.lr=0.01']")
    register_configs()
    with _COMPOSING:
        if GlobalHydra.instance().is_initialized():  # inside a Hydra app: use its search path
            return hydra_compose("config", overrides=list(overrides))
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            return hydra_compose("config", overrides=list(overrides))


def train(
    overrides: Sequence[str] = (),
    *,
    config: DictConfig | None = None,
    output_dir: str | os.PathLike[str] | None = None,
) -> dict[str, float]:
    """Trains one run of hpfw's model and returns its numbers, ``objective`` first.

    Args:
        overrides: Hydra overrides of hpfw's config, as on the command line.
        config: an already composed config (``hpfw.compose(...)``) instead.
        output_dir: where to write ``metrics.json`` (per-epoch curves too); none if None.

    Returns:
        The mapping a sweeper reads from ``hpfw``'s task function: ``objective``
        (the configured validation metric, NaN if the run diverged), validation
        and test loss and accuracy, timings and FLOPs.

    Raises:
        ``hpfw.HpfwError`` (a ``ValueError``) naming the key of a bad value.
    """
    cfg = config if config is not None else compose(overrides)
    return task_for(cfg).task_function()(cfg, output_dir)


def train_many(
    overrides: Sequence[Sequence[str]],
    *,
    mode: str = "auto",
    max_group_size: int | None = None,
) -> list[dict[str, float] | Exception]:
    """Trains many runs together, as ``hydra/launcher=batched`` does; one result per run.

    Runs of one static signature (architecture, optimiser family, epochs,
    batch size, ...) train as one vmapped program (``mode="vmap"``, the
    default on an accelerator) or side by side on the CPU's cores
    (``"sequential"``); see docs/launcher.md. A run whose config is invalid
    gets its exception in its place; the others are unaffected.
    """
    from hpfw.trainer.groups import train_many as train_configs
    from hpfw.trainer.metrics import write_run_metrics

    configs = [compose(o) for o in overrides]
    results: list[dict[str, float] | Exception] = [None] * len(configs)  # type: ignore[list-item]
    grouped = [i for i, cfg in enumerate(configs) if task_for(cfg).groupable]
    trained = train_configs([configs[i] for i in grouped], mode=mode, max_group_size=max_group_size)
    for i, result in zip(grouped, trained, strict=True):
        results[i] = (
            result if isinstance(result, Exception) else write_run_metrics(configs[i], result, None)
        )
    for i, cfg in enumerate(configs):
        if i not in grouped:  # a language model evaluates after training: one at a time
            try:
                results[i] = train(config=cfg)
            except Exception as error:
                results[i] = error
    return results
