"""Adaptive strategies resume exactly: bayes, tpe and BOHB sweeps killed mid-run, then resumed.

Each sweep runs a small Hydra app (not hpfw's trainer: the strategies are under
test), is SIGKILLed while a batch is running, resumed, and compared with the
same sweep run without interruption:

- a trial complete before the kill is never launched again;
- a trial running at the kill runs again with the same parameters;
- the initial design (the space-filling or random trials before a model is
  fitted) is the one the uninterrupted sweep ran, also the part proposed after
  the resume, and so is every trial after it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    ROOT,
    TOY,
    _run,
    journal,
    kill_mid_sweep,
    required_strategies,
)

BUDGET_APP = ROOT / "tests" / "apps" / "budget" / "app.py"
BUDGET_KEYS = [
    "hydra.sweeper.fidelity_key=epochs",
    "hydra.sweeper.checkpoint_key=checkpoint_dir",
    "hydra.sweeper.horizon_key=schedule_epochs",
]

# strategy -> (app, its arguments, how many trials form the initial design)
SWEEPS = {
    "bayes": (
        TOY,
        ["hydra/sweeper=bayes", "hydra.sweeper.n_initial=6", "x=interval(0,1)", "n=range(1,6)"],
        6,
    ),
    "tpe": (
        TOY,
        [
            "hydra/sweeper=tpe",
            "hydra.sweeper.n_startup_trials=6",
            "hydra.sweeper.constant_liar=true",
            "x=interval(0,1)",
            "n=range(1,6)",
        ],
        6,
    ),
    # BOHB: Hyperband whose new configurations come from a GP once a budget has
    # min_points results. Brackets 3@1 -> 1@3, then 2@3: the first bracket's three
    # configurations are random (the design), the second's come from the GP.
    "bohb": (
        BUDGET_APP,
        [
            *BUDGET_KEYS,
            "hydra/sweeper=hyperband",
            "hydra.sweeper.proposal=bayes",
            "hydra.sweeper.min_points=2",
            "hydra.sweeper.max_budget=3",
            "x=interval(0,1)",
            "opt_penalty=choice(0,1)",
        ],
        3,
    ),
}


def _launches(sweep_dir: Path) -> dict[int, list[dict]]:
    """Every "running" record of each trial: one per launch."""
    lines = [json.loads(x) for x in (sweep_dir / "trials.jsonl").read_text().splitlines()[1:]]
    launches: dict[int, list[dict]] = {}
    for record in lines:
        if record["state"] == "running":
            launches.setdefault(record["id"], []).append(record)
    return launches


def _sweep(app: Path, args: list[str], out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(app), "-m", *args, f"hydra.sweep.dir={out}", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("name", [*required_strategies(["bayes", "tpe"]), "bohb"])
def test_a_killed_adaptive_sweep_resumes_exactly(name: str, tmp_path: Path) -> None:
    app, args, design = SWEEPS[name]
    args = [*args, "hydra.sweeper.seed=5", "hydra.sweeper.batch_size=2"]
    if name != "bohb":
        args.append("hydra.sweeper.n_trials=8")
    out = tmp_path / "sweep"
    # Killed in the second launched batch: two trials done, two running, the design unfinished.
    # (The sweeper keeps the GP's programs in the session's JAX cache, HPFW_CACHE_DIR: the
    # resumed and the clean sweep load what the killed one compiled.)
    kill_mid_sweep(_sweep(app, args, out, "sleep=0.3"), tmp_path, out, completed=2)
    _, killed = journal(out)
    done = {i for i, r in killed.items() if r["state"] == "complete"}
    running = {i: r["params"] for i, r in killed.items() if r["state"] == "running"}
    assert running and len(done) < design

    resumed = _run(_sweep(app, args, out, "sleep=0.3", "hydra.sweeper.resume=true"), tmp_path, None)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean = tmp_path / "clean"
    whole = _run(_sweep(app, args, clean, "sleep=0"), tmp_path, None)
    assert whole.returncode == 0, whole.stderr[-3000:]

    _, records = journal(out)
    _, uninterrupted = journal(clean)
    launches = _launches(out)
    assert all(len(launches[i]) == 1 for i in done)  # never launched again
    for i, params in running.items():  # launched again, as it was
        assert len(launches[i]) == 2 and records[i]["params"] == params
        assert records[i]["state"] == "complete"
    assert all(r["state"] == "complete" for r in records.values())
    assert len(records) == len(uninterrupted)
    params = [r["params"] for r in records.values()]
    expected = [r["params"] for r in uninterrupted.values()]
    assert params[:design] == expected[:design]  # the initial design, resumed mid-way
    assert params == expected  # and what the model proposed from it
    if name == "bohb":  # the second bracket's configurations came from the model
        assert len(records) == 6 and records[5]["info"]["bracket"] == 1


def test_kill_mid_sweep_fails_rather_than_kill_at_another_moment(tmp_path: Path) -> None:
    """The helper above never lets a test go on with a sweep killed when it did not ask."""
    never = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(AssertionError, match="within 1 s"):
        kill_mid_sweep(never, tmp_path, tmp_path, completed=1, timeout=1)
    ends = [sys.executable, "-c", "pass"]
    with pytest.raises(AssertionError, match=r"before it ended \(exit 0\)"):
        kill_mid_sweep(ends, tmp_path, tmp_path, completed=1)
