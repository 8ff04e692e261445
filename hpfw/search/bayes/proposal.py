"""Where the acquisition is searched: candidate points and the discrete local search.

The gradient refinement (``acquisition.maximise``) moves only relaxed numeric
coordinates, and a relaxed integer is evaluated at the value it rounds to. So
every refined point is snapped onto the point its typed params encode to, and
then improved by a local search over discrete changes (each other choice of a
categorical, each integer one step up or down), all scored by the acquisition
at once, as Optuna's GPSampler does for the discrete parameters of its best
points. A model that judged the other discrete values only from early trials
at poor continuous settings gets to compare them where the rest is best.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.stats import qmc

from hpfw.search.bayes import basins
from hpfw.search.bayes.encoding import Encoder

LOCAL_SIGMA = (0.005, 0.2)  # steps of local candidates, as fractions of the range
PERTURBED_DIMS = 20  # local candidates move about this many coordinates (TuRBO's choice)
SEARCH_ROUNDS = 3  # rounds of discrete local search
# A proposal within POLISH_RADIUS of the incumbent (every continuous coordinate, on
# the unit cube) with its discrete values merely polishes it; a neighbour counts as
# tried when some trial had its discrete values within TRIED_RADIUS of the incumbent.
POLISH_RADIUS, TRIED_RADIUS = 0.15, 0.1
# A polish gives way to a hop of one coordinate (basins.py) whose log EI is within
# HOP_MARGIN of its own, on every HOP_EVERY-th trial id, in spaces of at most HOP_MAX_DIMS
# parameters, all continuous (measured: docs/benchmarks.md, issue 19, fourth round).
HOP_MARGIN, HOP_EVERY, HOP_MAX_DIMS = 3.0, 3, 10


def candidates(
    encoder: Encoder,
    rng: np.random.Generator,
    n_spread: int,
    n_local: int,
    tops: np.ndarray,
) -> np.ndarray:
    """Sobol points over the whole space plus Gaussian steps around the points ``tops``.

    In many dimensions a step moves a random subset of about ``PERTURBED_DIMS``
    coordinates (as TuRBO's candidates do): a step in every one of 50
    coordinates leaves the neighbourhood of the point it started from.
    """
    n_params = len(encoder.space)
    sobol = qmc.Sobol(d=n_params, scramble=True, seed=rng)
    spread = encoder.from_params_unit(sobol.random(n_spread))
    base = tops[rng.integers(len(tops), size=n_local)]
    # Step sizes from 0.5% to 20% of the range: fine polishing to a short jump.
    sigma = np.exp(rng.uniform(*np.log(LOCAL_SIGMA), size=(n_local, 1)))
    moved = rng.random(base.shape) < min(1.0, PERTURBED_DIMS / max(n_params, 1))
    steps = rng.normal(size=base.shape) * sigma * encoder.free * moved
    local = np.clip(base + steps, 0.0, 1.0)
    # Now and then a categorical takes another choice, so local search crosses them too.
    flips = encoder.from_params_unit(rng.random((n_local, n_params)))
    for where in encoder.slices.values():
        if encoder.free[where.start] == 0.0:
            swap = rng.random(n_local) < 1.0 / max(n_params, 2)
            local[swap, where] = flips[swap, where]
    return np.concatenate([spread, local])


def discrete_search(
    encoder: Encoder,
    score: Callable[[np.ndarray], np.ndarray],
    points: np.ndarray,
    rounds: int = SEARCH_ROUNDS,
) -> tuple[np.ndarray, np.ndarray]:
    """``points`` snapped to their typed params, then improved one discrete change at a time.

    Each round scores every neighbour of every point (``Encoder.neighbours``)
    with ``score`` in one call and moves each point to its best neighbour if
    that scores higher. Returns the points and their scores.
    """
    points = np.array([encoder.snap(p) for p in points])
    values = np.array(score(points))
    if not encoder.discrete:
        return points, values
    for _ in range(rounds):
        groups = [
            [encoder.encode(n) for n in encoder.neighbours(encoder.decode(p))] for p in points
        ]
        flat = [x for g in groups for x in g]
        if not flat:
            break
        scored = score(np.array(flat))
        moved, start = False, 0
        for i, group in enumerate(groups):
            if group:
                k = int(np.argmax(scored[start : start + len(group)]))
                if scored[start + k] > values[i]:
                    points[i], values[i], moved = group[k], scored[start + k], True
            start += len(group)
        if not moved:
            break
    return points, values


def padded(n: int) -> int:
    """Rows to score ``n`` points in: powers of two from 64, so few programs compile."""
    return max(64, 1 << math.ceil(math.log2(max(n, 1))))


def untested_neighbours(
    encoder: Encoder,
    incumbent: np.ndarray,
    tried: np.ndarray,
    point: np.ndarray,
) -> list[np.ndarray]:
    """The incumbent's other categorical choices never tried near its continuous values.

    Only when ``point`` (the model's proposal) merely polishes the incumbent: the
    same discrete values, every continuous coordinate within ``POLISH_RADIUS``. Then one
    trial at an untested neighbour is worth more than a polish: the GP has not
    seen that discrete value where the rest is good, and its guess there comes
    from trials elsewhere (docs/bayes.md, "Discrete local optima").
    """
    cont = encoder.continuous > 0
    if not polishes(encoder, incumbent, point):
        return []
    out = []
    # Integers +-1 are left to the model: checking them too cost more trials than it
    # saved on the mixed benchmark problems (docs/benchmarks.md).
    for params in encoder.neighbours(encoder.decode(incumbent), integers=False):
        x = encoder.encode(params)
        x[cont] = incumbent[cont]
        same = np.all(tried[:, ~cont] == x[~cont], axis=1)
        near = np.all(np.abs(tried[:, cont] - x[cont]) <= TRIED_RADIUS, axis=1)
        if not np.any(same & near):
            out.append(x)
    return out


def polishes(encoder: Encoder, incumbent: np.ndarray, point: np.ndarray) -> bool:
    """Whether ``point`` has the incumbent's discrete values and is within ``POLISH_RADIUS``."""
    cont = encoder.continuous > 0
    point = encoder.snap(point)
    return bool(
        np.all(point[~cont] == incumbent[~cont])
        and np.all(np.abs(point[cont] - incumbent[cont]) <= POLISH_RADIUS)
    )


def at_incumbent(
    encoder: Encoder,
    incumbent: np.ndarray,
    tried: np.ndarray,
    point: np.ndarray,
    acquisition: Callable[[np.ndarray], np.ndarray],
    new: Callable[[np.ndarray], bool],
    trial_id: int = 0,
) -> np.ndarray:
    """``point``, or when it merely polishes the incumbent, a trial worth more there.

    First an untested categorical choice (``untested_neighbours``), the best by
    the acquisition. Else a hop of one ``Float`` coordinate to an untried grid
    value (``basins.untried_hops``) whose log EI is within ``HOP_MARGIN`` of the
    polish's, when ``trial_id`` is a multiple of ``HOP_EVERY`` and the space has
    at most ``HOP_MAX_DIMS`` coordinates, all continuous: a separable multimodal
    function (Styblinski-Tang) otherwise polishes a point with a coordinate in
    the wrong basin to the end. The rate and the margin bound what hops cost
    where they do not pay (Rosenbrock's valley, a rotated Rastrigin); in many
    dimensions there are more hops (8 per coordinate) than trials to spend. In
    a mixed space the polish's slots go to the untried-choice check, and a hop
    that moves the incumbent starts that check over (a benchmark run then
    ended on a wrong integer).
    """
    if not polishes(encoder, incumbent, point):
        return point
    untested = [p for p in untested_neighbours(encoder, incumbent, tried, point) if new(p)]
    if untested:
        return untested[int(np.argmax(acquisition(np.array(untested))))]
    few = np.sum(encoder.continuous > 0) <= HOP_MAX_DIMS
    if encoder.discrete or not few or trial_id % HOP_EVERY:
        return point
    hops = [p for p in basins.untried_hops(encoder, incumbent, tried, TRIED_RADIUS) if new(p)]
    if not hops:
        return point
    values = acquisition(np.array([point, *hops]))
    k = int(np.argmax(values[1:]))
    return hops[k] if values[1 + k] >= values[0] - HOP_MARGIN else point
