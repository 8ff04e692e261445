"""A trial's envelope (``trainer.envelope``, set by hpfw's sweeper) and the program it trains on.

The sweeper lists the values each structural key takes in the sweep, and the
optimiser families and epochs, before the first trial runs. Every trial of
the sweep reads the same envelope and asks the cost model (``costs.plan``,
cached per process and deterministic, so every process of a sweep agrees) for
the boxes to compile; it trains on the program of the box that holds its own
values. Without an envelope a trial trains on exactly its own sizes.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from hpfw.errors import ConfigError
from hpfw.models import STRUCTURAL
from hpfw.trainer import costs
from hpfw.trainer.device_costs import device_costs, micro_batches
from hpfw.trainer.optim import OPTIMIZERS
from hpfw.trainer.spec import ProgramSpec, StaticSpec
from hpfw.values import plain

log = logging.getLogger("hpfw.envelope")

MODEL_KEYS = tuple(dict.fromkeys(k for keys in STRUCTURAL.values() for k in keys))
INT_KEYS = (*MODEL_KEYS, "batch_size", "epochs")


@dataclass(frozen=True)
class Envelope:
    """The structural values of a sweep: sorted values per key, and how many trials it runs."""

    values: tuple[tuple[str, tuple[Any, ...]], ...]
    trials: int
    group: int = 0  # trials launched at once; 0: all of them

    def get(self, key: str) -> tuple[Any, ...]:
        return dict(self.values).get(key, ())


def read_envelope(cfg: Any) -> Envelope | None:
    """``cfg.trainer.envelope`` checked, or None when the run has none (it pads nothing)."""
    node = cfg.trainer.get("envelope")
    if node is None or all(node.get(k) is None for k in node):
        return None
    values: list[tuple[str, tuple[Any, ...]]] = []
    for key in INT_KEYS:
        listed = node.get(key)
        if listed is None:
            continue
        listed = [plain(v) for v in listed]
        smallest = 0 if key == "num_layers" else 1
        if not listed or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= smallest for v in listed
        ):
            raise ConfigError(
                f"trainer.envelope.{key}",
                f"got {listed!r}; allowed: a non-empty list of integers >= {smallest}",
            )
        values.append((key, tuple(sorted(set(listed)))))
    families = node.get("optimizer")
    if families is not None:
        families = [str(plain(f)) for f in families]
        unknown = [f for f in families if f not in OPTIMIZERS]
        if not families or unknown:
            raise ConfigError(
                "trainer.envelope.optimizer",
                f"got {families!r}; allowed: a non-empty list of {', '.join(OPTIMIZERS)}",
            )
        values.append(("optimizer", tuple(f for f in OPTIMIZERS if f in families)))
    counts = {}
    for key in ("trials", "group"):
        count = node.get(key)
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ConfigError(f"trainer.envelope.{key}", f"got {count!r}; allowed: null or >= 1")
        counts[key] = count
    return Envelope(tuple(values), int(counts["trials"] or 1), int(counts["group"] or 0))


def _cores() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def problem_for(spec: StaticSpec, envelope: Envelope) -> costs.Problem:
    """The cost model's problem of ``spec``'s family in ``envelope``."""
    family = spec.family
    keys = (*STRUCTURAL[family], "batch_size")
    values = tuple((k, envelope.get(k)) for k in keys if len(envelope.get(k)) > 1)
    model = dict(spec.model)
    static = tuple(sorted((k, v) for k, v in model.items() if k not in STRUCTURAL[family]))
    # Keys that do not vary in the sweep keep the trial's own value: part of the problem.
    fixed = tuple(sorted((k, model[k]) for k in STRUCTURAL[family] if k not in dict(values)))
    if "batch_size" not in dict(values):
        fixed += (("batch_size", spec.batch_size),)
    return costs.Problem(
        model=static + fixed,
        values=values,
        epochs=envelope.get("epochs") or (spec.epochs,),
        trials=envelope.trials,
        group=envelope.group,
        optimizers=len(set(envelope.get("optimizer")) | {spec.optimizer}),
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        split_sizes=spec.split_sizes,
    )


@lru_cache(maxsize=64)
def plan_for(problem: costs.Problem, platform: str, cores: int) -> costs.Plan:
    """The plan of ``problem`` on ``platform``: computed once per process, and logged."""
    chosen = costs.plan(problem, device_costs(platform, cores))
    log_plan(chosen, platform)
    return chosen


def describe(ranges: Mapping[str, tuple[int, int]]) -> str:
    """``hidden_dim 65-128, batch_size 32`` for a program's ranges."""
    parts = [
        f"{k} {lo}" if lo == hi else f"{k} {lo}-{hi}" for k, (lo, hi) in sorted(ranges.items())
    ]
    return ", ".join(parts) or "one size"


def log_plan(plan: costs.Plan, platform: str) -> None:
    problem = plan.problem
    log.info(
        "envelopes for model=%s, %d trials on %s: %d program(s), estimated %.1f s "
        "(one program: %.1f s)",
        problem.family,
        problem.trials,
        platform,
        len(plan.boxes),
        plan.estimate_seconds,
        plan.one_box_seconds,
    )
    for box, compile_s, train_s, share in zip(
        plan.boxes, plan.compile_seconds, plan.train_seconds, plan.shares, strict=True
    ):
        log.info(
            "  %s: %.0f%% of trials, compile ~%.1f s, training ~%.1f s",
            describe(box.ranges(problem)),
            100 * share,
            compile_s,
            train_s,
        )


def choose_program(spec: StaticSpec, envelope: Envelope, platform: str) -> ProgramSpec:
    """The program ``spec`` trains on in ``envelope``: its box's, on ``platform``."""
    model = dict(spec.model)
    own = {k: int(model[k]) for k in STRUCTURAL[spec.family]} | {"batch_size": spec.batch_size}
    problem = problem_for(spec, envelope)
    ranges = {k: (v, v) for k, v in own.items()}
    if problem.values:
        ranges.update(plan_for(problem, platform, _cores()).ranges_for(own))
    return _program(spec, envelope, ranges, platform)


def sibling_programs(spec: StaticSpec, envelope: Envelope, platform: str) -> list[ProgramSpec]:
    """The programs of the other boxes of ``spec``'s plan: what later trials will need."""
    problem = problem_for(spec, envelope)
    if not problem.values:
        return []
    mine = choose_program(spec, envelope, platform)
    model = dict(spec.model)
    own = {k: int(model[k]) for k in STRUCTURAL[spec.family]} | {"batch_size": spec.batch_size}
    programs = []
    for box in plan_for(problem, platform, _cores()).boxes:
        ranges = {k: (v, v) for k, v in own.items()} | box.ranges(problem)
        program = _program(spec, envelope, ranges, platform)
        if program != mine:
            programs.append(program)
    return programs


def _program(
    spec: StaticSpec, envelope: Envelope, ranges: Mapping[str, tuple[int, int]], platform: str
) -> ProgramSpec:
    family = spec.family
    model = dict(spec.model)
    families = set(envelope.get("optimizer")) | {spec.optimizer}
    horizon = max((*envelope.get("epochs"), spec.epochs))
    sized = {**model, **{k: hi for k, (lo, hi) in ranges.items() if k in STRUCTURAL[family]}}
    return ProgramSpec(
        model=tuple(sorted(sized.items())),
        ranges=tuple(sorted(ranges.items())),
        optimizers=tuple(f for f in OPTIMIZERS if f in families),
        epochs=horizon,
        precision=spec.precision,
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        split_sizes=spec.split_sizes,
        micro_batches=micro_batches(platform),
    )


def trial_estimate(spec: StaticSpec, envelope: Envelope, platform: str) -> float | None:
    """The cost model's training seconds for ``spec`` in its program (None: nothing varies)."""
    problem = problem_for(spec, envelope)
    if not problem.values:
        return None
    plan = plan_for(problem, platform, _cores())
    model = dict(spec.model)
    own = {k: int(model[k]) for k in STRUCTURAL[spec.family]} | {"batch_size": spec.batch_size}
    index = plan.box_for(own)
    point = [min(bisect.bisect_left(v, own[k]), len(v) - 1) for k, v in problem.values]
    alone = dataclasses.replace(problem, epochs=(spec.run_epochs,))
    # Vmapped, a trial's share of its group's time: each step's fixed cost is shared.
    width, padding = costs.group_width(problem, plan.costs, plan.shares[index])
    seconds = costs.box_seconds(alone, plan.costs, plan.boxes[index], np.array([point]), width)
    return float(seconds[0]) * padding
