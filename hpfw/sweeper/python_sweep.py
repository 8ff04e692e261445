"""``hpfw.sweep``: a whole sweep of a Python objective, with the Hydra sweeper's loop.

The same journal, resume, failure handling, strategies and reports as
``hydra/sweeper=...``: only the ``TrialRunner`` differs (``python_trials``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpfw.pruning.pruners import PrunerError, pruner_settings
from hpfw.search import Distribution
from hpfw.search.space import check_space
from hpfw.sweeper.loop import run_sweep
from hpfw.sweeper.python_trials import BACKENDS, FunctionTrials
from hpfw.sweeper.results import SweepResult
from hpfw.sweeper.resume import new_header
from hpfw.sweeper.settings import PYTHON_NAMES, SweepError, SweepSettings

log = logging.getLogger("hpfw.sweeper")


def sweep(
    objective: Callable[..., Any],
    space: Mapping[str, Distribution],
    *,
    strategy: str = "bayes",
    n_trials: int | None = 20,
    directory: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    direction: str = "minimize",
    objective_key: str | None = None,
    tie_breaker: str | None = None,
    tie_breaker_direction: str | None = None,
    n_jobs: int = 1,
    backend: str = "processes",
    batch_size: int | None = None,
    max_failures: int = 10,
    resume: bool = False,
    verbose: bool = True,
    pruner: str | Mapping[str, Any] | None = None,
    asynchronous: bool = False,
    objectives: Mapping[str, str] | None = None,
    constraints: Sequence[str] = (),
    enqueue: Sequence[Mapping[str, Any]] = (),
    warm_start: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    compilation_cache_dir: str | os.PathLike[str] | bool = True,
    **options: Any,
) -> SweepResult:
    """Runs (or resumes) a sweep of ``objective`` over ``space``; returns its results.

    Args:
        objective: called as ``objective(params)`` with a dict of one trial's
            values, or ``objective(params, trial)`` when it takes two arguments
            (``trial.id``, ``trial.path(name)`` for files). It returns a
            number, or a mapping of numbers holding ``objective_key``; raising
            or returning NaN fails the trial, and the sweep goes on.
        space: names to ``hpfw.Float``, ``hpfw.Int`` or ``hpfw.Categorical``.
        strategy: any name in ``hpfw.available_strategies()``; ``**options``
            are its keyword options (``n_initial=5`` for bayes, ...).
        n_trials: trials in total, resumed ones included (None: until the
            strategy ends, as a grid does).
        directory: where the journal and reports go (default
            ``outputs/sweeps/<date>/<time>``, as the Hydra sweeper's).
        seed: makes the sweep reproducible (None: drawn and recorded).
        direction: ``"minimize"`` or ``"maximize"``.
        objective_key: the key of a returned mapping to optimise (default
            ``"objective"``).
        tie_breaker: among trials tied on the objective, the best has the
            better value of this key of the returned mapping (None: the first by
            id); ``tie_breaker_direction`` (None: from its name, accuracies up
            and the rest down) says which is better.
        n_jobs: trials run at once; ``backend`` runs them in ``"processes"``
            (the objective is pickled with cloudpickle) or ``"threads"`` (for an
            objective that releases the GIL, such as a compiled JAX program).
        batch_size: trials the strategy proposes at once (default ``n_jobs``).
            ``n_jobs`` only decides where trials run, never which.
        max_failures: failed or diverged trials tolerated before it stops.
        resume: continue the sweep in ``directory`` from its journal.
        verbose: print the summary table at the end.
        pruner: ``"median"``, ``"asha"``, ``"hyperband"`` or
            ``{"name": ..., option: value}``: stops trials early from the
            values they report with ``hpfw.report`` (or ``trial.report``);
            see docs/pruning.md.
        asynchronous: keep ``n_jobs`` trials running, asking for the next one
            as soon as one ends, instead of launching batches of
            ``batch_size``.
        objectives: several objectives, ``{metric: "minimize" | "maximize"}``
            read from the returned mapping (the first is the sweep's
            objective; ``objective_key`` and ``direction`` are then not needed).
            The result's ``front`` is then the Pareto front.
        constraints: ``["train_seconds <= 30", ...]`` on returned metrics:
            only trials meeting all of them rank or make the front.
        enqueue: parameter mappings to run first (missing ones drawn at random).
        warm_start: earlier sweep directories whose completed trials the
            strategy learns from first (not counted in ``n_trials``).
        compilation_cache_dir: where JAX's persistent compilation cache keeps
            the strategy's own programs (bayes's GP), so the next sweep loads
            them instead of compiling: True for ``$HPFW_CACHE_DIR`` or
            ``~/.cache/hpfw/jax``, a directory, or False for none. Turned on
            only when the process has no JAX cache directory yet; it is
            process-wide (``hpfw.sweeper.compile_cache``).

    Example:
        >>> import hpfw
        >>> result = hpfw.sweep(lambda p: (p["x"] - 0.3) ** 2, {"x": hpfw.Float(0, 1)},
        ...                     strategy="random", n_trials=8, seed=0, verbose=False)
        >>> result.best.params
        {'x': 0.38213610129812814}
    """
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    space = check_space(space)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1, got {n_jobs!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be a bool, got {type(verbose).__name__}")
    if not isinstance(compilation_cache_dir, (bool, str, os.PathLike)):
        raise TypeError(
            "compilation_cache_dir must be True, False or a directory, "
            f"got {type(compilation_cache_dir).__name__}"
        )
    settings = SweepSettings(
        strategy=strategy,
        n_trials=n_trials,
        batch_size=n_jobs if batch_size is None else batch_size,
        direction=None if objectives else direction,
        objective=objective_key,
        objectives=dict(objectives) if isinstance(objectives, Mapping) else objectives,
        constraints=list(constraints),
        enqueue=list(enqueue) if isinstance(enqueue, (list, tuple)) else enqueue,
        warm_start=_directories(warm_start),
        tie_breaker=tie_breaker,
        tie_breaker_direction=tie_breaker_direction,
        seed=seed,
        max_failures=max_failures,
        resume=resume,
        concurrent_trials=n_jobs if asynchronous else None,
        pruner=dict(pruner) if isinstance(pruner, Mapping) else pruner,
        compilation_cache_dir=_cache_setting(compilation_cache_dir),
        options={k: v for k, v in options.items() if v is not None},
    )
    settings.names = PYTHON_NAMES
    settings.resolve()
    try:
        pruning = pruner_settings(settings.pruner)
    except PrunerError as error:
        raise SweepError(f"Invalid pruner: {error}") from None
    sweep_dir = Path(directory) if directory is not None else default_directory()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    runner = FunctionTrials(
        objective,
        sweep_dir,
        n_jobs=n_jobs,
        backend=backend,
        objective_key=settings.objective,
        asynchronous=asynchronous,
    )
    header = new_header(settings, space, command=None, pruner=pruning)
    header["objective_function"] = _qualified_name(objective)
    run_sweep(settings, space, runner, sweep_dir, header)
    result = SweepResult(sweep_dir)
    if verbose:
        from hpfw.sweeper.summary import print_summary

        print_summary(result.header, [t.record for t in result.trials])
    return result


def default_directory() -> Path:
    """``outputs/sweeps/<date>/<time>``, as Hydra names a sweep's directory."""
    now = dt.datetime.now()
    return Path("outputs") / "sweeps" / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


def _cache_setting(given: str | os.PathLike[str] | bool) -> str | None:
    """``compilation_cache_dir`` as the sweeper setting: None (the default), "" (off) or a path."""
    if isinstance(given, bool):
        return None if given else ""
    return os.fspath(given)


def _directories(
    given: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
) -> list[str] | None:
    if given is None:
        return None
    if isinstance(given, (str, os.PathLike)):
        return [os.fspath(given)]
    return [os.fspath(d) for d in given]


def _qualified_name(objective: Callable[..., Any]) -> str:
    module = getattr(objective, "__module__", None) or "?"
    name = getattr(objective, "__qualname__", None) or type(objective).__name__
    return f"{module}:{name}"
