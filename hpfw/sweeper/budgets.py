"""Budgets of multi-fidelity trials (sha, hyperband) as config overrides.

A multi-fidelity strategy puts an integer ``budget`` and a ``config`` id into
each trial's ``info``. The sweeper turns them into overrides of three keys
that the app names (``hydra.sweeper.fidelity_key``, ``horizon_key`` and
``checkpoint_key``; hpfw's trainer: ``trainer.epochs``,
``trainer.schedule_epochs`` and ``trainer.checkpoint_dir``), so a promoted
trial continues from its configuration's checkpoint: docs/early-stopping.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hpfw.search import Trial
from hpfw.search.overrides import ParsedSweep, format_value
from hpfw.sweeper.settings import SweepError, SweepSettings

CHECKPOINT_DIR = "checkpoints"  # <sweep dir>/checkpoints/<config id>: one per configuration
_ABSENT = object()


def budget_keys(settings: SweepSettings) -> list[tuple[str, str]]:
    """``(setting, config key)`` of every key the sweeper sets per trial."""
    keys = [("fidelity_key", settings.fidelity_key)]
    keys += [
        (name, key)
        for name, key in (
            ("checkpoint_key", settings.checkpoint_key),
            ("horizon_key", settings.horizon_key),
        )
        if key
    ]
    return keys


def check_budget_keys(
    settings: SweepSettings, sweep: ParsedSweep, composed: DictConfig | None
) -> None:
    """The keys a multi-fidelity sweep sets must exist in ``composed`` and not be swept."""
    for setting, key in budget_keys(settings):
        if key in sweep.params:
            raise SweepError(
                f"'{key}' is hydra.sweeper.{setting}, set by the strategy for each trial; "
                "do not sweep it"
            )
    if composed is None:
        return  # the default groups do not compose: each trial will report why
    for setting, key in budget_keys(settings):
        if OmegaConf.select(composed, key, default=_ABSENT) is _ABSENT:
            hint = "" if setting == "fidelity_key" else ", or null if your app has none"
            raise SweepError(
                f"hydra.sweeper.{setting}: '{key}' is not in the config; name your app's key{hint}"
            )


def without_budget_keys(settings: SweepSettings, fixed: Sequence[str]) -> list[str]:
    """Fixed overrides minus those of the keys the strategy sets per trial."""
    keys = {key for _, key in budget_keys(settings)}
    return [o for o in fixed if o.split("=", 1)[0].lstrip("+~") not in keys]


def budget_overrides(
    settings: SweepSettings, trial: Trial, max_budget: int, sweep_dir: Path
) -> tuple[list[str], str | None]:
    """A trial's budget and horizon overrides, and its configuration's checkpoint directory."""
    budget = trial.info.get("budget")
    if not isinstance(budget, int):
        return [], None
    overrides = [f"{settings.fidelity_key}={budget}"]
    if settings.horizon_key:
        overrides.append(f"{settings.horizon_key}={max_budget}")
    checkpoint = None
    if settings.checkpoint_key and trial.info.get("config") is not None:
        # Absolute: a job may run in another working directory (hydra.job.chdir).
        checkpoint = str(sweep_dir.resolve() / CHECKPOINT_DIR / str(trial.info["config"]))
    return overrides, checkpoint


def checkpoint_override(settings: SweepSettings, checkpoint: str) -> str:
    """The override that points a trial at its configuration's checkpoint directory."""
    return f"{settings.checkpoint_key}={format_value(checkpoint)}"
