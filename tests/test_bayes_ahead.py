"""bayes compiles the next padded size's programs ahead, while the trials run (ahead.py)."""

from __future__ import annotations

import threading

import jax
import pytest

import hpfw
from hpfw.search import Float
from hpfw.search.strategy import Trial

COMPILE = "/jax/core/compile/backend_compile_duration"


def _told(n: int) -> hpfw.search.strategy.Strategy:
    space = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}
    strategy = hpfw.create_strategy("bayes", space, seed=0, n_candidates=64, n_restarts=2)
    for k in range(n):
        params = {"x": (k * 0.37) % 1.0, "y": (k * 0.61) % 1.0}
        strategy.tell(Trial(k, params), (params["x"] - 0.3) ** 2 + params["y"])
    return strategy


def _compiles_in_this_thread(run) -> list[str]:
    names: list[str] = []
    me = threading.current_thread()

    def listen(event: str, duration: float, **kwargs) -> None:
        if event == COMPILE and threading.current_thread() is me:
            names.append(str(kwargs.get("fun_name")))

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return names


def test_the_ask_that_reaches_a_new_bucket_finds_its_programs_compiled():
    strategy = _told(15)
    (trial,) = strategy.ask(1)  # 16 rows: the last ask of the 16-row bucket
    strategy.tell(trial, 1.0)
    # The next ask(1) reaches 17 rows, a 32-row bucket: compiled in a thread
    # after the ask above; the ask waits for it rather than compiling again.
    compiles = _compiles_in_this_thread(lambda: strategy.ask(1))
    programs = {f"jit({name})" for name in ("fit", "condition_with_pending", "maximise", "score")}
    assert [name for name in compiles if name in programs] == [], compiles


@pytest.mark.parametrize(
    ("n_initial", "n_candidates"),
    [(4, 48), (20, 40)],  # the first model ask at 5 rows (a 16-row bucket), at 21 (32 rows)
)
def test_the_first_model_ask_finds_its_programs_compiled_during_the_initial_design(
    n_initial: int, n_candidates: int
):
    # Shapes no other test uses (3 dimensions, these candidates, 3 restarts): nothing of
    # this bucket is in the process's cache before the initial design starts it.
    space = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0), "z": Float(0.0, 1.0)}
    strategy = hpfw.create_strategy(
        "bayes", space, seed=0, n_initial=n_initial, n_candidates=n_candidates, n_restarts=3
    )
    for _ in range(n_initial):  # the Sobol points; the first ask starts the model's bucket
        (trial,) = strategy.ask(1)
        assert trial.info["source"] == "sobol"
        strategy.tell(trial, sum(trial.params.values()))
    asked: list = []
    compiles = _compiles_in_this_thread(lambda: asked.extend(strategy.ask(1)))
    assert asked[0].info["source"] == "gp"  # the first model ask
    programs = {f"jit({name})" for name in ("fit", "condition_with_pending", "maximise")}
    assert [name for name in compiles if name in programs] == [], compiles
