"""Coordinate hops of the incumbent (``basins.py``, ``proposal.at_incumbent``)."""

from __future__ import annotations

import numpy as np
import pytest

from hpfw.search import Categorical, Float, Int
from hpfw.search.bayes import BayesStrategy, basins, proposal
from hpfw.search.bayes.encoding import Encoder

SPACE = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0), "n": Int(1, 3), "k": Categorical(["a", "b"])}


def test_hops_move_one_coordinate_to_grid_values_not_yet_tried() -> None:
    encoder = Encoder(SPACE)
    incumbent = encoder.encode({"x": 0.8, "y": 0.3, "n": 2, "k": "b"})
    tried = np.array([incumbent, encoder.encode({"x": 0.2, "y": 0.33, "n": 2, "k": "b"})])
    hops = basins.untried_hops(encoder, incumbent, tried, radius=0.1)
    moved = [encoder.decode(h) for h in hops]
    # Every hop keeps the discrete values (integers are the discrete local search's)
    # and all but one float.
    assert all(p["k"] == "b" and p["n"] == 2 for p in moved)
    xs = sorted(p["x"] for p in moved if p["y"] == pytest.approx(0.3))
    ys = sorted(p["y"] for p in moved if p["x"] == pytest.approx(0.8))
    grid = (np.arange(basins.SWEEP_VALUES) + 0.5) / basins.SWEEP_VALUES
    # x = 0.1875 and 0.3125 were tried (x = 0.2 there); 0.8125 is the incumbent's own value.
    assert xs == pytest.approx([g for g in grid if abs(g - 0.2) > 0.1 and abs(g - 0.8) > 0.1])
    assert ys == pytest.approx([g for g in grid if abs(g - 0.3) > 0.1])
    assert len(hops) == len(xs) + len(ys)


def test_a_polish_gives_way_to_a_hop_the_acquisition_rates_close_to_it() -> None:
    encoder = Encoder({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    incumbent = encoder.encode({"x": 0.8, "y": 0.3})
    tried = incumbent[None, :]
    polish = encoder.encode({"x": 0.81, "y": 0.31})
    far = encoder.encode({"x": 0.1, "y": 0.9})

    def rates_low_x(gap: float):
        def acquisition(points: np.ndarray) -> np.ndarray:
            # The polish scores 0, the hop of x to 0.0625 -gap, every other hop -50.
            hop = np.isclose(points[:, 0], 0.0625)
            return np.where(hop, -gap, np.where(np.isclose(points[:, 0], 0.81), 0.0, -50.0))

        return acquisition

    def new(_: np.ndarray) -> bool:
        return True

    margin = proposal.HOP_MARGIN  # trial id 0: a hop is allowed (every HOP_EVERY-th id)
    hop = proposal.at_incumbent(encoder, incumbent, tried, polish, rates_low_x(margin / 2), new)
    assert encoder.decode(hop) == {"x": pytest.approx(0.0625), "y": pytest.approx(0.3)}
    # A hop rated far below the polish, a proposal that explores, a trial id that may not
    # hop: the proposal stands.
    kept = proposal.at_incumbent(encoder, incumbent, tried, polish, rates_low_x(2 * margin), new)
    assert kept is polish
    assert proposal.at_incumbent(encoder, incumbent, tried, far, rates_low_x(0.0), new) is far
    odd = proposal.at_incumbent(encoder, incumbent, tried, polish, rates_low_x(0.0), new, 1)
    assert odd is polish


def test_no_hops_in_mixed_spaces() -> None:
    # There the untried-choice check has the polish's slots (a hop would restart it).
    encoder = Encoder(SPACE)
    incumbent = encoder.encode({"x": 0.8, "y": 0.3, "n": 1, "k": "a"})
    tried = np.array([incumbent, encoder.encode({"x": 0.8, "y": 0.3, "n": 1, "k": "b"})])
    polish = encoder.encode({"x": 0.81, "y": 0.31, "n": 1, "k": "a"})

    def any_hop(points: np.ndarray) -> np.ndarray:
        return np.where(np.isclose(points[:, 0], 0.81), -10.0, 0.0)

    assert (
        proposal.at_incumbent(encoder, incumbent, tried, polish, any_hop, lambda _: True) is polish
    )


def test_a_sweep_hops_on_every_third_trial_id_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Any hop beats a polish here (an infinite margin): on a bowl the model polishes,
    # so the trials it may hop on (ids divisible by HOP_EVERY) move one coordinate of
    # the best trial onto the grid, and the others do not.
    monkeypatch.setattr(proposal, "HOP_MARGIN", float("inf"))
    space = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}
    strategy = BayesStrategy(space, seed=0, n_initial=4)
    grid = (np.arange(basins.SWEEP_VALUES) + 0.5) / basins.SWEEP_VALUES
    hops = []
    for _ in range(16):
        best = strategy.best
        (trial,) = strategy.ask(1)
        if trial.info["source"] == "gp" and best is not None:
            moved = [k for k in space if trial.params[k] != best.params[k]]
            on_grid = len(moved) == 1 and np.isclose(grid, trial.params[moved[0]]).any()
            hops.append((trial.id, on_grid))
        strategy.tell(trial, (trial.params["x"] - 0.3) ** 2 + (trial.params["y"] - 0.6) ** 2)
    assert any(on_grid for _, on_grid in hops)
    assert all(i % proposal.HOP_EVERY == 0 for i, on_grid in hops if on_grid)
