"""Sweeper configs in Hydra's ConfigStore: ``hydra/sweeper=grid|random|bayes|sha|hyperband|...``.

Kept free of heavy imports: Hydra imports every plugin module at every start.
No ``from __future__ import annotations`` here: Hydra's plugin scan executes this
module outside ``sys.modules``, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore

ENTRY_POINT_GROUP = "hpfw.strategies"  # mirrors hpfw.search.registry, without importing it


@dataclass
class HpfwSweeperConf:
    _target_: str = "hydra_plugins.hpfw_sweeper.hpfw_sweeper.HpfwSweeper"
    strategy: str = "random"  # any name in hpfw.available_strategies()
    n_trials: Optional[int] = 20  # trials in total, resumed ones included; null: sha, hyperband
    batch_size: int = 1  # trials per launched batch (parallel launchers run a batch at once)
    direction: str = "auto"  # minimize, maximize, or auto (from hpfw's `objective`, else minimize)
    objective: Optional[str] = None  # key to use when a job returns a mapping
    seed: Optional[int] = None  # null: a fresh seed per sweep, recorded in the journal
    params: Dict[str, str] = field(default_factory=dict)  # key -> sweep override value
    max_failures: int = 10  # failed or diverged trials tolerated before the sweep stops
    resume: bool = False  # continue the journal in hydra.sweep.dir
    options: Dict[str, Any] = field(default_factory=dict)  # extra keyword options of the strategy


@dataclass
class GridSweeperConf(HpfwSweeperConf):
    strategy: str = "grid"
    n_trials: int = 1000  # a grid stops by itself when exhausted
    grid_points: Optional[int] = None  # points per interval without a step


@dataclass
class RandomSweeperConf(HpfwSweeperConf):
    strategy: str = "random"
    sobol: bool = False  # scrambled Sobol points (scipy.stats.qmc) instead of i.i.d. uniform


@dataclass
class BayesSweeperConf(HpfwSweeperConf):
    strategy: str = "bayes"
    n_initial: Optional[int] = None  # Sobol points before the GP; null: d + 1, clipped to [5, 10]
    n_candidates: int = 512  # Sobol candidates swept with log EI per proposal (+1/4 local ones)
    n_restarts: int = 8  # best candidates refined by projected gradient ascent
    batch_strategy: str = "believer"  # pending trials' fantasy value: believer or liar
    warp: bool = True  # Yeo-Johnson power transform of the scores before standardising


@dataclass
class MultiFidelitySweeperConf(HpfwSweeperConf):
    n_trials: Optional[int] = None  # null: every trial of the brackets (each rung counts one)
    max_failures: int = 100  # a wide space diverges often in rung 0: those are cut, not errors
    min_budget: int = 1  # smallest budget (epochs) a configuration trains for
    max_budget: int = 27  # the full budget; every bracket's top rung trains this long
    eta: int = 3  # each rung keeps the best 1/eta and trains them eta times longer
    iterations: int = 1  # how many times the brackets run
    proposal: str = "random"  # new configurations: random, or bayes (BOHB with a GP)
    random_fraction: float = 0.3333333333333333  # bayes only: share still drawn at random
    min_points: Optional[int] = None  # bayes only: results a budget needs to fit (null: d + 2)
    fidelity_key: str = "trainer.epochs"  # the integer config key that takes the budget
    checkpoint_key: Optional[str] = "trainer.checkpoint_dir"  # null: the app keeps none
    horizon_key: Optional[str] = "trainer.schedule_epochs"  # gets max_budget; null: not set


@dataclass
class ShaSweeperConf(MultiFidelitySweeperConf):
    strategy: str = "sha"
    n_configs: Optional[int] = None  # configurations in the first rung; null: eta**s_max


@dataclass
class HyperbandSweeperConf(MultiFidelitySweeperConf):
    strategy: str = "hyperband"


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="hpfw", node=HpfwSweeperConf, provider="hpfw")
    cs.store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="hpfw")
    cs.store(group="hydra/sweeper", name="random", node=RandomSweeperConf, provider="hpfw")
    cs.store(group="hydra/sweeper", name="bayes", node=BayesSweeperConf, provider="hpfw")
    cs.store(group="hydra/sweeper", name="sha", node=ShaSweeperConf, provider="hpfw")
    cs.store(group="hydra/sweeper", name="hyperband", node=HyperbandSweeperConf, provider="hpfw")
    # Strategies from other packages get a generic entry under their own name.
    # Only the entry points' names are read here; their code loads when used.
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in {"hpfw", "grid", "random", "bayes", "sha", "hyperband"}:
            cs.store(
                group="hydra/sweeper",
                name=ep.name,
                node=HpfwSweeperConf(strategy=ep.name),
                provider=ep.dist.name if ep.dist else "hpfw",
            )


register()
