"""Coordinate hops of the incumbent: one coordinate moved to another part of its range.

On a separable multimodal function (Styblinski-Tang: two basins per
coordinate) a run ends with some coordinates of its best point in the wrong
basin, and no usual candidate proposes "the best point, with this one
coordinate elsewhere": Sobol points move every coordinate, local steps stay
near, and the refinement pulls a start in another basin back to the polish.
A hop is such a point, on a grid of ``SWEEP_VALUES`` values per coordinate;
``proposal.at_incumbent`` decides when one replaces a polish (docs/bayes.md,
"Coordinate hops").
"""

from __future__ import annotations

import numpy as np

from hpfw.search.bayes.encoding import Encoder

SWEEP_VALUES = 8  # grid values per coordinate: the midpoints of eight equal strata


def untried_hops(
    encoder: Encoder, incumbent: np.ndarray, tried: np.ndarray, radius: float
) -> np.ndarray:
    """The incumbent with one ``Float`` coordinate at a grid value no trial has been near.

    Grid: the midpoints of ``SWEEP_VALUES`` equal strata of each ``Float``
    coordinate, except those within ``radius`` of the incumbent's own value. A
    hop counts as tried when some row of ``tried`` is within ``radius`` of it
    on every numeric coordinate and has its categorical choices.
    """
    numeric = encoder.free > 0
    grid = (np.arange(SWEEP_VALUES) + 0.5) / SWEEP_VALUES
    hops = []
    # Floats only: an integer's other values are the discrete local search's.
    for j in np.flatnonzero(encoder.continuous > 0):
        for value in grid:
            if abs(value - incumbent[j]) > radius:
                hop = incumbent.copy()
                hop[j] = value
                hops.append(encoder.snap(hop))
    if not hops:
        return np.empty((0, encoder.width))
    out = np.array(hops)
    near = np.all(np.abs(tried[None, :, numeric] - out[:, None, numeric]) <= radius, axis=2)
    same = np.all(tried[None, :, ~numeric] == out[:, None, ~numeric], axis=2)
    return out[~np.any(near & same, axis=1)]
