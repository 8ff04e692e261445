"""A strategy's own programs (bayes's GP) are kept in JAX's cache: the next sweep loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hpfw.app import sweep_defaults
from hpfw.sweeper.settings import SweepError, SweepSettings
from tests.helpers import ROOT, toy

# One sweep of a Python objective in a fresh process (JAX's cache is process-wide); prints
# how many programs the process loaded from the cache and whether it imported JAX.
SWEEP = textwrap.dedent(
    """
    import json, sys
    import hpfw
    strategy, cache, directory = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    if strategy == "bayes":  # bayes imports JAX anyway: count the cache's hits from the start
        import hpfw.trainer.device
    options = {"n_initial": 2} if strategy == "bayes" else {}
    hpfw.sweep(lambda p: (p["x"] - 0.3) ** 2, {"x": hpfw.Float(0.0, 1.0)}, strategy=strategy,
               n_trials=4, seed=0, directory=directory, verbose=False,
               compilation_cache_dir=cache, **options)
    jax = "jax" in sys.modules
    hits = sys.modules["hpfw.trainer.device"].cache_hits() if jax else 0
    print(json.dumps({"hits": hits, "jax": jax}))
    """
)


def sweep(tmp_path: Path, strategy: str, cache: str | bool, **env: str) -> dict:
    directory = tmp_path / f"sweep-{len(list(tmp_path.glob('sweep-*')))}"
    done = subprocess.run(
        [sys.executable, "-c", SWEEP, strategy, json.dumps(cache), str(directory)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


@pytest.mark.slow
def test_a_second_bayes_sweep_loads_the_gps_programs_instead_of_compiling(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = sweep(tmp_path, "bayes", str(cache))
    assert first["hits"] == 0 and any(cache.iterdir())  # compiled, and kept
    second = sweep(tmp_path, "bayes", str(cache))
    assert second["hits"] > 0  # a new process: loaded from the cache


def test_no_cache_when_off_or_when_the_strategy_compiles_nothing(tmp_path: Path) -> None:
    off, random = tmp_path / "off", tmp_path / "random"
    # n_initial=2 and 4 trials: the GP fits and proposes twice, with the cache off.
    assert sweep(tmp_path, "bayes", False, HPFW_CACHE_DIR=str(off))["hits"] == 0
    assert not off.exists()
    drawn = sweep(tmp_path, "random", str(random))
    assert drawn["hits"] == 0 and not drawn["jax"]
    assert not random.exists()


def test_a_directory_that_cannot_be_made_costs_the_cache_not_the_sweep(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    # n_initial=2 and 4 trials: the GP's programs compile, without a cache; the sweep ends.
    done = sweep(tmp_path, "bayes", str(blocker / "cache"))
    assert (
        done["hits"] == 0 and "no compilation cache for the strategy's programs" in done["stderr"]
    )
    assert blocker.read_text() == "not a directory"


def test_a_cache_directory_the_process_chose_stays_in_use(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    # The user's own cache settings: every program cached, however short its compile.
    env = {
        "JAX_COMPILATION_CACHE_DIR": str(theirs),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    sweep(tmp_path, "bayes", str(ours), **env)
    assert not ours.exists() and any(theirs.iterdir())


def test_a_user_apps_sweep_takes_the_directory_from_hydra_sweeper(tmp_path: Path) -> None:
    cache = tmp_path / "gp-cache"
    done = toy(
        "hydra/sweeper=bayes",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_initial=2",
        "x=interval(0,1)",
        f"hydra.sweeper.compilation_cache_dir={cache}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(cache.iterdir())


def test_hpfws_app_caches_the_strategys_programs_where_its_trainer_caches() -> None:
    def default(cache: str | None) -> str:
        cfg = OmegaConf.create(
            {
                "objective": "val_accuracy",
                "task": "classify",
                "trainer": {"compilation_cache_dir": cache},
            }
        )
        settings = SweepSettings.from_mapping({})
        return settings.resolve(sweep_defaults(cfg)).compilation_cache_dir

    assert default("/some/dir") == "/some/dir"
    assert default(None) == ""  # the trainer's cache is off: so is the strategy's
    assert SweepSettings().resolve().compilation_cache_dir == os.environ["HPFW_CACHE_DIR"]


def test_a_bad_cache_directory_is_one_line_naming_the_key() -> None:
    with pytest.raises(SweepError, match=r"hydra\.sweeper\.compilation_cache_dir: got 5"):
        SweepSettings(compilation_cache_dir=5).resolve()  # type: ignore[arg-type]
