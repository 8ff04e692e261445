"""Pareto dominance: non-dominated sorting, the front, crowding and hypervolume (tables)."""

from __future__ import annotations

import numpy as np
import pytest

from hpfw.search.pareto import (
    as_minimized,
    crowding_distance,
    dominates,
    front_ranks,
    hypervolume,
    order,
    pareto_front,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([1, 1], [2, 2], True),
        ([1, 2], [2, 1], False),  # each better in one objective
        ([1, 1], [1, 1], False),  # equal points do not dominate each other
        ([1, 1], [1, 2], True),  # no worse anywhere, better somewhere
        ([2, 2], [1, 1], False),
    ],
)
def test_dominance(a, b, expected):
    assert dominates(a, b) is expected


@pytest.mark.parametrize(
    ("points", "ranks"),
    [
        ([], []),
        ([[3, 3]], [0]),
        ([[1, 4], [2, 2], [4, 1], [3, 3]], [0, 0, 0, 1]),
        ([[1, 1], [2, 2], [3, 3]], [0, 1, 2]),  # a chain: one point per front
        ([[1, 2], [1, 2], [2, 3]], [0, 0, 1]),  # duplicates share a front
        ([[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1]], [0, 0, 0, 1]),  # 3 objectives
        ([[5, 1], [1, 5], [3, 3], [4, 4], [6, 6]], [0, 0, 0, 1, 2]),
    ],
)
def test_front_ranks(points, ranks):
    assert front_ranks(points).tolist() == ranks
    assert pareto_front(points).tolist() == [i for i, r in enumerate(ranks) if r == 0]


def test_maximised_objectives_are_flipped():
    # accuracy up, parameters down: (0.9, 100) dominates (0.8, 200); (0.95, 300) is a trade-off.
    points = as_minimized([[0.9, 100], [0.8, 200], [0.95, 300]], ["maximize", "minimize"])
    assert pareto_front(points).tolist() == [0, 2]


@pytest.mark.parametrize(
    ("points", "reference", "volume"),
    [
        ([[1, 1]], [2, 2], 1.0),
        ([[0, 1], [1, 0]], [2, 2], 3.0),  # two boxes overlapping in [1,2]^2
        ([[0, 1], [1, 0], [1, 1]], [2, 2], 3.0),  # a dominated point adds nothing
        ([[3, 0]], [2, 2], 0.0),  # beyond the reference: nothing
        ([[0.5, 0.5], [0.5, 0.5]], [1, 1], 0.25),  # duplicates count once
        ([[0, 0, 0]], [1, 2, 3], 6.0),
        ([[0, 1, 1], [1, 0, 1], [1, 1, 0]], [2, 2, 2], 4.0),  # boxes of 2 sharing [1,2]^3
    ],
)
def test_hypervolume(points, reference, volume):
    assert hypervolume(points, reference) == pytest.approx(volume)


def test_hypervolume_matches_monte_carlo_in_four_dimensions():
    rng = np.random.default_rng(0)
    points = rng.random((12, 4))
    reference = np.ones(4)
    samples = rng.random((200_000, 4))
    covered = np.any(np.all(points[None, :, :] <= samples[:, None, :], axis=-1), axis=1)
    assert hypervolume(points, reference) == pytest.approx(covered.mean(), abs=0.01)


def test_crowding_and_order():
    front = [[0, 4], [1, 3], [1.1, 2.9], [4, 0]]
    distance = crowding_distance(front)
    assert np.isinf(distance[0]) and np.isinf(distance[3])
    assert distance[1] > 0 and distance[2] > 0
    # The front first (extremes before crowded points), then the dominated point.
    assert order([[0, 4], [1, 3], [4, 0], [5, 5]]).tolist()[-1] == 3
    assert set(order([[0, 4], [1, 3], [4, 0], [5, 5]]).tolist()[:2]) == {0, 2}
