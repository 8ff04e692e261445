"""What ``hydra/sweeper=<strategy>`` runs: sweep overrides -> search space -> the sweep loop."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hpfw.pruning.pruners import PrunerError, pruner_settings
from hpfw.search.overrides import parse_sweep
from hpfw.sweeper import summary
from hpfw.sweeper.app_defaults import app_defaults
from hpfw.sweeper.hydra_async import SerialConfigLoader
from hpfw.sweeper.hydra_trials import HydraTrials, reproducible
from hpfw.sweeper.loop import run_sweep
from hpfw.sweeper.precheck import precheck
from hpfw.sweeper.resume import new_header
from hpfw.sweeper.settings import SweepError, SweepSettings

log = logging.getLogger("hpfw.sweeper")


def program() -> str:
    """How to start this app again, for the reproduce command in best.yaml."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "__main__.py":
        return f"python -m {argv0.parent.name}"
    if argv0.suffix == ".py":
        return f"python {sys.argv[0]}"
    return argv0.name


def left_out_line(left_out: Mapping[str, Mapping[str, str]]) -> str:
    """One log line naming the options globs left out, and why."""
    parts = []
    for group, options in left_out.items():
        by_reason: dict[str, list[str]] = {}
        for option, reason in options.items():
            by_reason.setdefault(reason or "hydra.sweeper.glob_exclude", []).append(option)
        parts += [f"{group}: {', '.join(o)} ({why})" for why, o in by_reason.items()]
    return "glob left out options that do not fit this config: " + "; ".join(parts)


class HydraSweep:
    """One sweep of a Hydra app: ``setup`` once, then ``sweep(arguments)``."""

    def __init__(self, raw_settings: Mapping[str, Any]) -> None:
        self.settings = SweepSettings.from_mapping(raw_settings)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        if self.settings.concurrent_trials:
            # Launches overlap: the launcher's config loader is called from several threads.
            hydra_context = HydraContext(
                config_loader=SerialConfigLoader(hydra_context.config_loader),
                callbacks=hydra_context.callbacks,
            )
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.settings.resolve(app_defaults(task_function, config))
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[Any]]:
        """Runs the sweep; returns each launched batch's ``JobReturn``s, as Hydra's sweepers do."""
        settings = self.settings
        loader = self.hydra_context.config_loader
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        # The sweep's own config, as Hydra's basic sweeper saves it.
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        sweep = parse_sweep(
            arguments,
            params=settings.params,
            group_options=lambda g: list(loader.get_group_options(g)),
            glob_exclude=settings.glob_exclude,
        )
        if sweep.left_out:
            log.info(left_out_line(sweep.left_out))
        if not sweep.params:
            # Nothing to sweep: the one job, as Hydra's basic sweeper runs it.
            log.info("nothing to sweep: running the one job")
            settings = dataclasses.replace(settings, strategy="grid", n_trials=1, options={})
        precheck(loader, self.config, sweep, self.task_function)
        trials = HydraTrials(settings, sweep, self.launcher, loader, self.config, sweep_dir)
        trials.check_keys_exist()
        space = {name: p.dist for name, p in sweep.params.items()}
        header = new_header(
            settings,
            space,
            groups=[name for name, p in sweep.params.items() if p.is_group],
            fixed_overrides=reproducible(sweep.fixed),
            command=program(),
            pruner=self._pruner(trials),
        )
        header, records = run_sweep(settings, space, trials, sweep_dir, header)
        summary.print_summary(header, records)
        return trials.returns

    def _pruner(self, trials: HydraTrials) -> dict[str, Any] | None:
        """The pruner's settings; hyperband's max_budget defaults to the budget key's value."""
        settings = self.settings
        if settings.pruner is None:
            return None
        composed = trials.composed()
        budget = OmegaConf.select(composed, settings.fidelity_key) if composed else None
        try:
            return pruner_settings(
                settings.pruner, max_budget=budget if isinstance(budget, int) else None
            )
        except PrunerError as error:
            raise SweepError(f"Invalid {settings.names('pruner')}: {error}") from None
