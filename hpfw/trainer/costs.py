"""The cost model: which envelopes to compile, so that compiles plus padded training are least.

One program can serve a whole sweep, but a trial padded into a wider
program computes the wider matmuls; a second program costs a compile. Given
the values each structural key takes in the sweep (the envelope), the number
of trials and the device, ``plan`` splits the space of values into boxes, one
program each, greedily: it keeps splitting the box and key that most lower the
estimated time of the whole sweep,

    (sum of the boxes' compile seconds + trials x mean padded trial seconds) / parallel

(on a CPU compiles and trials share the cores). On an accelerator the host's
cores compile the boxes side by side, ahead of the trials,

    max(longest compile, sum of compiles / compilers) + trials x mean padded trial seconds

and the trials of a box run as vmapped groups that share each step's fixed
cost (``group_width``).
A trial's seconds come from its steps, the FLOPs of a step at its box's widths
(``hpfw.models.costs``), a fixed cost per step, the weights its optimiser
updates, the weights of the layers it skips, and the device's speed
(``DeviceCosts``, fitted to a sweep's per-trial seconds: docs/structural.md).
On a CPU a trial runs only its own depth, steps and epochs (skipped layers
and epochs are branches a CPU does not run, and a padded batch loops over the
trial's own steps, each as micro-batches of the box's smallest batch size);
vmapped, every trial of a group runs the box's largest, with masked rows.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from hpfw.models.costs import forward_flops, param_count
from hpfw.trainer.device_costs import MAX_GROUP, DeviceCosts, vmap_width

DEPTH_KEY = {"mlp": "num_layers", "cnn": "num_conv_layers", "transformer": "num_layers",
             "decoder": "num_layers"}  # fmt: skip
MAX_BOXES = 8  # programs per family at most
MAX_POINTS = 512  # grid points the expectation is taken over (a fixed sample beyond)
MIN_GAIN = 0.02  # a split must lower the estimate by this fraction


@dataclass(frozen=True)
class Problem:
    """What a plan is for: one model family's envelope in one sweep."""

    model: tuple[tuple[str, Any], ...]  # the static model keys (name, kernel_size, ...)
    values: tuple[tuple[str, tuple[int, ...]], ...]  # sorted values of each key that varies
    epochs: tuple[int, ...]
    trials: int
    optimizers: int
    input_shape: tuple[int, ...]
    num_classes: int
    split_sizes: tuple[int, int, int]
    group: int = 0  # trials launched together (the sweep's batch); 0: all of them

    @property
    def family(self) -> str:
        return str(dict(self.model)["name"])

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.values]


@dataclass(frozen=True)
class Box:
    """A box of the envelope: per key, indices ``(i_lo, i_hi)`` into its sorted values."""

    index: tuple[tuple[int, int], ...]

    def ranges(self, problem: Problem) -> dict[str, tuple[int, int]]:
        """Each key's ``(lo, hi)``: from just above the box below to the box's largest value."""
        out = {}
        for (key, values), (lo, hi) in zip(problem.values, self.index, strict=True):
            out[key] = (values[lo] if lo == 0 else values[lo - 1] + 1, values[hi])
        return out

    def contains(self, point: Sequence[int]) -> bool:
        return all(lo <= i <= hi for i, (lo, hi) in zip(point, self.index, strict=True))


@dataclass
class Plan:
    """The boxes chosen for a problem, and what they were estimated to cost."""

    problem: Problem
    costs: DeviceCosts
    boxes: list[Box]
    compile_seconds: list[float]
    train_seconds: list[float]  # all of the sweep's trials expected in each box
    shares: list[float]  # the share of trials expected in each box
    estimate_seconds: float
    one_box_seconds: float  # the estimate with a single program, for the log
    _fits: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)

    def box_for(self, own: Mapping[str, int]) -> int:
        """The index of the box a trial with structural values ``own`` trains in."""
        point = tuple(
            min(bisect.bisect_left(values, own[key]), len(values) - 1)
            for key, values in self.problem.values
        )
        if point not in self._fits:
            self._fits[point] = next(i for i, b in enumerate(self.boxes) if b.contains(point))
        return self._fits[point]

    def ranges_for(self, own: Mapping[str, int]) -> dict[str, tuple[int, int]]:
        """The program ranges a trial trains in (widened to hold it if it lies outside)."""
        ranges = self.boxes[self.box_for(own)].ranges(self.problem)
        return {k: (min(lo, own[k]), max(hi, own[k])) for k, (lo, hi) in ranges.items()}


def _points(problem: Problem) -> np.ndarray:
    """The grid of value indices the expectation is over (a fixed sample of a large grid)."""
    sizes = [len(v) for _, v in problem.values]
    total = math.prod(sizes)
    if total <= MAX_POINTS:
        return np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, s, MAX_POINTS) for s in sizes], axis=1)


@lru_cache(maxsize=65536)
def _flops(
    model: tuple[tuple[str, Any], ...],
    sizes: tuple[tuple[str, float], ...],
    input_shape: tuple[int, ...],
    num_classes: int,
    heads_padded: bool,
) -> float:
    return forward_flops(
        dict(model), dict(sizes), input_shape, num_classes, heads_padded=heads_padded
    )


@lru_cache(maxsize=65536)
def _params(
    model: tuple[tuple[str, Any], ...],
    sizes: tuple[tuple[str, float], ...],
    input_shape: tuple[int, ...],
    num_classes: int,
) -> float:
    return param_count(dict(model), dict(sizes), input_shape, num_classes)


def box_seconds(
    problem: Problem, costs: DeviceCosts, box: Box, points: np.ndarray, width: float = 1.0
) -> np.ndarray:
    """Estimated seconds of one trial at each of ``points`` (value indices) inside ``box``.

    ``width``: the trials of a vmapped group stepping together, which share each
    step's fixed cost.
    """
    values = dict(problem.values)
    ranges = box.ranges(problem)
    keys = problem.keys
    n_train, n_val, n_test = problem.split_sizes
    epochs = float(max(problem.epochs)) if costs.vmapped else float(np.mean(problem.epochs))
    column = {k: np.asarray(values[k])[points[:, j]] for j, k in enumerate(keys)}
    batch = column.get("batch_size")
    batch_lo, batch_hi = ranges.get("batch_size", (None, None))
    depth_key = DEPTH_KEY[problem.family]
    heads_padded = any(ranges.get(k, (0, 0))[0] != ranges.get(k, (0, 0))[1]
                       for k in ("d_model", "num_heads"))  # fmt: skip
    widths = tuple(
        (k, float(hi)) for k, (lo, hi) in ranges.items() if k not in (depth_key, "batch_size")
    )
    static_sizes = {k: float(v) for k, v in problem.model if k in _STRUCTURAL_NAMES}
    depth = column.get(depth_key)
    if depth is None or costs.vmapped:
        depth_hi = ranges[depth_key][1] if depth_key in ranges else static_sizes[depth_key]
        depth = np.full(len(points), depth_hi)
    flops, weights = np.empty(len(points)), np.empty(len(points))
    for d in np.unique(depth):
        sizes = tuple(sorted({**static_sizes, **dict(widths), depth_key: float(d)}.items()))
        flops[depth == d] = _flops(problem.model, sizes, problem.input_shape,
                                   problem.num_classes, heads_padded)  # fmt: skip
        # The optimiser updates the weights of the layers the trial runs, at the box's
        # widths (``hpfw.trainer.live``; vmapped, every layer of the box).
        weights[depth == d] = _params(problem.model, sizes, problem.input_shape,
                                      problem.num_classes)  # fmt: skip
    # A layer the trial skips still costs its weights' passage through the skipped
    # branch and a zero gradient each step (measured: docs/structural.md).
    box_depth = ranges[depth_key][1] if depth_key in ranges else static_sizes[depth_key]
    deepest = {**static_sizes, **dict(widths), depth_key: float(box_depth)}
    skipped = _params(problem.model, tuple(sorted(deepest.items())), problem.input_shape,
                      problem.num_classes) - weights  # fmt: skip
    micro = np.ones(len(points))  # passes over the data per step: micro-batches
    if batch is None:
        batch = np.full(len(points), static_sizes.get("batch_size", 32.0))
        rows = batch
        steps = n_train // batch
    elif batch_lo == batch_hi:
        rows, steps = batch, n_train // batch
    elif costs.vmapped:  # masked rows of the box's largest batch, every step of the smallest
        rows = np.full(len(points), float(batch_hi))
        steps = np.full(len(points), n_train // batch_lo)
    else:  # the trial's own steps, each as micro-batches of the box's smallest batch
        micro = np.ceil(batch / batch_lo)
        rows, steps = micro * batch_lo, n_train // batch
    shared_by = width if costs.vmapped else 1.0
    step = (
        micro * costs.step_seconds * branch_overhead(problem, ranges, costs) / shared_by
        + rows * 3.0 * flops / costs.flops_per_second
        + weights * costs.param_seconds
        + skipped * costs.skipped_param_seconds
    )
    evaluate = (n_val * epochs + n_test) * flops / costs.flops_per_second
    return epochs * steps * step + evaluate


_STRUCTURAL_NAMES = ("num_layers", "hidden_dim", "num_conv_layers", "channels", "d_model",
                     "num_heads", "mlp_dim", "batch_size")  # fmt: skip


def branch_overhead(
    problem: Problem, ranges: Mapping[str, tuple[int, int]], costs: DeviceCosts
) -> float:
    """How much a step's fixed cost grows with the branches a padded program runs per step.

    Measured on this CPU (docs/structural.md): a step of the default MLP's
    smallest trial costs ~1.35x with three skippable layers, ~1.2x with three
    optimiser families to pick between, ~1.5x with a padded batch of masked
    rows (vmapped) and about nothing with micro-batches, beyond the extra FLOPs
    (the per-step constant was refitted with these factors in it).
    """
    depth = ranges.get(DEPTH_KEY[problem.family])
    skippable = depth[1] - depth[0] if depth else 0
    batch = ranges.get("batch_size")
    masked_rows = 1.0 if batch and batch[0] != batch[1] and costs.vmapped else 0.0
    return 1.0 + 0.12 * skippable + 0.1 * (problem.optimizers - 1) + 0.5 * masked_rows


def compile_seconds(problem: Problem, costs: DeviceCosts, box: Box) -> float:
    """A box's compile: the family's, larger with each layer it may skip and each family."""
    base = costs.compile_seconds.get(problem.family, 4.0)
    ranges = box.ranges(problem)
    depth = ranges.get(DEPTH_KEY[problem.family])
    skippable = depth[1] - depth[0] if depth else 0
    batch = ranges.get("batch_size")
    padded_batch = 1 if batch and batch[0] != batch[1] else 0
    return base * (1 + 0.1 * skippable + 0.1 * padded_batch + 0.1 * (problem.optimizers - 1))


def _box_costs(
    problem: Problem, costs: DeviceCosts, box: Box, points: np.ndarray
) -> tuple[float, float, float]:
    """``(compile seconds, training seconds of its expected trials, share of trials)``."""
    lo = np.array([i for i, _ in box.index], dtype=np.int64)
    hi = np.array([i for _, i in box.index], dtype=np.int64)
    inside = points[np.all((points >= lo) & (points <= hi), axis=1)]
    if not len(inside):
        return 0.0, 0.0, 0.0
    share = len(inside) / len(points)
    width, padding = group_width(problem, costs, share)
    seconds = float(box_seconds(problem, costs, box, inside, width).mean()) * padding
    return compile_seconds(problem, costs, box), problem.trials * share * seconds, share


def group_width(problem: Problem, costs: DeviceCosts, share: float) -> tuple[float, float]:
    """``(trials stepping together, padding factor)`` of a box holding ``share`` of the trials.

    Vmapped, a launched batch's trials of one box run as one group, as wide as
    the power of two that holds them (``hpfw.trainer.groups``): the padding
    lanes compute too. Elsewhere a trial runs alone: ``(1, 1)``.
    """
    if not costs.vmapped:
        return 1.0, 1.0
    width = min(max((problem.group or problem.trials) * share, 1.0), MAX_GROUP)
    return width, vmap_width(math.ceil(width)) / width


def _splits(box: Box) -> list[tuple[Box, Box]]:
    out = []
    for j, (lo, hi) in enumerate(box.index):
        for cut in range(lo, hi):
            left = (*box.index[:j], (lo, cut), *box.index[j + 1 :])
            right = (*box.index[:j], (cut + 1, hi), *box.index[j + 1 :])
            out.append((Box(left), Box(right)))
    return out


def plan(problem: Problem, costs: DeviceCosts, max_boxes: int = MAX_BOXES) -> Plan:
    """The boxes that minimise the estimated time of ``problem``'s sweep on ``costs``'s device."""
    points = _points(problem) if problem.values else np.zeros((1, 0), dtype=np.int64)
    memo: dict[Box, tuple[float, float, float]] = {}

    def box_cost(box: Box) -> tuple[float, float, float]:
        if box not in memo:
            memo[box] = _box_costs(problem, costs, box, points)
        return memo[box]

    def total(boxes: list[Box]) -> float:
        parts = [box_cost(b) for b in boxes]
        compiles, training = sum(p[0] for p in parts), sum(p[1] for p in parts)
        if costs.vmapped:  # the host's cores compile the programs side by side, ahead
            longest = max(p[0] for p in parts)
            return max(longest, compiles / costs.compilers) + training
        return (compiles + training) / costs.parallel

    boxes = [Box(tuple((0, len(v) - 1) for _, v in problem.values))]
    best = one_box = total(boxes)
    while len(boxes) < max_boxes:
        candidates = [
            (total(trial), trial)
            for i, box in enumerate(boxes)
            for left, right in _splits(box)
            for trial in [[*boxes[:i], left, right, *boxes[i + 1 :]]]
        ]
        if not candidates:
            break
        estimate, trial = min(candidates, key=lambda c: c[0])
        if estimate > best * (1 - MIN_GAIN):
            break
        best, boxes = estimate, trial
    parts = [box_cost(b) for b in boxes]
    return Plan(
        problem,
        costs,
        boxes,
        compile_seconds=[p[0] for p in parts],
        train_seconds=[p[1] for p in parts],
        shares=[p[2] for p in parts],
        estimate_seconds=best,
        one_box_seconds=one_box,
    )
