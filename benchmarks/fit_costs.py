"""Refits the cost model's per-step constants to a sweep's per-trial training seconds.

The cost model (``hpfw.trainer.costs.box_seconds``) is linear in its four
per-step constants: the fixed cost of a step, seconds per FLOP, per weight
updated and per weight of a skipped layer. For every trial of a finished
sweep this script computes the four terms for the trial's program (its own
``.hydra/config.yaml``, with the envelope it ran in) and fits the constants
to the trials' ``train_seconds`` by non-negative least squares
(``scipy.optimize.nnls``). It prints the fit, each program's measured and
fitted seconds, and the median relative error per trial. docs/structural.md
records the fit that ``device_costs("cpu")`` uses.

    python benchmarks/fit_costs.py SWEEP_DIR
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from scipy.optimize import nnls

from hpfw.models import STRUCTURAL
from hpfw.trainer import costs
from hpfw.trainer.envelope import plan_for, problem_for, read_envelope
from hpfw.trainer.run import prepare

TERMS = ("step_seconds", "seconds_per_flop", "param_seconds", "skipped_param_seconds")


def unit_costs(base: costs.DeviceCosts, term: str) -> costs.DeviceCosts:
    """``base`` with one per-step term set to 1 and the others to 0."""
    zero = dict(step_seconds=0.0, flops_per_second=np.inf, param_seconds=0.0,
                skipped_param_seconds=0.0)  # fmt: skip
    one = {"seconds_per_flop": {"flops_per_second": 1.0}}.get(term, {term: 1.0})
    return dataclasses.replace(base, **(zero | one))


def box_of(problem: costs.Problem, label: str) -> costs.Box | None:
    """The box of a program's label (``batch_size 32-128, hidden_dim 64-128``), if it is one."""
    ranges = {}
    for part in label.split(", "):
        key, _, span = part.rpartition(" ")
        lo, _, hi = span.partition("-")
        ranges[key] = (int(lo), int(hi or lo))
    index = []
    for key, values in problem.values:
        if key not in ranges:
            return None
        lo, hi = ranges[key]
        inside = [i for i, v in enumerate(values) if lo <= v <= hi]
        if not inside:
            return None
        index.append((inside[0], inside[-1]))
    return costs.Box(tuple(index))


def trial_terms(trial_dir: Path) -> tuple[np.ndarray, float, str]:
    """The four terms of one trial's estimate, its measured seconds and its program."""
    cfg = OmegaConf.load(trial_dir / ".hydra" / "config.yaml")
    metrics = json.loads((trial_dir / "metrics.json").read_text())
    run = prepare(cfg)
    spec, envelope = run.spec, read_envelope(cfg)
    problem = problem_for(spec, envelope)
    plan = plan_for(problem, run.device.platform, len(os.sched_getaffinity(0)))
    model = dict(spec.model)
    own = {k: int(model[k]) for k in STRUCTURAL[spec.family]} | {"batch_size": spec.batch_size}
    box = box_of(problem, str(metrics["program"])) if "program" in metrics else None
    box = box or plan.boxes[plan.box_for(own)]
    point = np.array([[min(bisect.bisect_left(v, own[k]), len(v) - 1) for k, v in problem.values]])
    alone = dataclasses.replace(problem, epochs=(spec.run_epochs,))
    terms = [costs.box_seconds(alone, unit_costs(plan.costs, t), box, point)[0] for t in TERMS]
    return np.array(terms), float(metrics["train_seconds"]), str(metrics.get("program"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    args = parser.parse_args()
    rows, seconds, programs = [], [], []
    for trial_dir in sorted(args.sweep.glob("*/metrics.json")):
        terms, measured, program = trial_terms(trial_dir.parent)
        rows.append(terms)
        seconds.append(measured)
        programs.append(program)
    a, b = np.array(rows), np.array(seconds)
    # Relative errors matter, not seconds: weight each trial by 1 / its seconds.
    weights = 1.0 / np.maximum(b, 1e-3)
    fit, _ = nnls(a * weights[:, None], b * weights)
    for name, value in zip(TERMS, fit, strict=True):
        shown = f"{1 / value / 1e9:.1f} GFLOP/s" if name == "seconds_per_flop" and value else value
        print(f"{name}: {shown}")
    predicted = a @ fit
    by_program: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for program, measured, guess in zip(programs, b, predicted, strict=True):
        entry = by_program[program]
        entry[0] += measured
        entry[1] += guess
        entry[2] += 1
    for program, (measured, guess, n) in by_program.items():
        print(f"  {program}: {n} trials, measured {measured:.1f} s, fitted {guess:.1f} s")
    error = np.median(np.abs(predicted - b) / b)
    print(f"median relative error per trial: {100 * error:.0f}%; total measured {b.sum():.1f} s, "
          f"fitted {predicted.sum():.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
