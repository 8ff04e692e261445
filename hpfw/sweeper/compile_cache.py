"""JAX's persistent compilation cache for a strategy's own programs (bayes's Gaussian process).

A strategy that compiles JAX programs (``Strategy.compiles_programs``: bayes,
BOHB-style brackets) compiles the same ones in every sweep: the GP's fit and
acquisition for each size of history, a few seconds of CPU each time a sweep
reaches a new size. hpfw's own app has its trainer turn on JAX's persistent
cache, which keeps these programs too; a user's ``@hydra.main`` app or a Python
objective does not, so every sweep of it compiled them again (a 30-trial bayes
sweep of a toy app: ~10 s of its ~20 s). The sweeper now turns the cache on in
its own process, unless the process already chose a cache directory
(``JAX_COMPILATION_CACHE_DIR``, ``jax.config``). The cache is process-wide, so
the app's own JAX programs in that process are cached too.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("hpfw.sweeper")

# The directory hpfw's trainer uses too (conf/trainer/default.yaml): one cache for both.
CACHE_ENV = "HPFW_CACHE_DIR"
HOME_CACHE = "~/.cache/hpfw/jax"


def default_directory() -> str:
    """``$HPFW_CACHE_DIR``, else ``~/.cache/hpfw/jax``: the trainer's default as well."""
    return os.environ.get(CACHE_ENV) or HOME_CACHE


def cache_strategy_programs(strategy: Any, directory: str | None) -> str | None:
    """Turns on JAX's persistent cache in ``directory`` for ``strategy``'s programs.

    Does nothing (returns None) when the directory is empty or None, when the
    strategy compiles no programs of its own, or when JAX already has a cache
    directory in this process (the user's, or hpfw's trainer's). A directory
    that cannot be made (a read-only home, a path through a file) costs the
    cache, not the sweep: one warning, and the programs compile as before.
    Returns the directory in use otherwise.
    """
    if not directory or not getattr(strategy, "compiles_programs", False):
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:
        return None
    from hpfw.trainer.device import enable_compilation_cache

    try:
        return enable_compilation_cache(directory)
    except OSError as error:
        log.warning(
            "no compilation cache for the strategy's programs in %s (%s): they compile "
            "in every sweep",
            directory,
            error,
        )
        return None
