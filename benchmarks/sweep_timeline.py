"""Where a sweep's time goes: one `hpfw` command, in process, with a timeline of its phases.

Runs the command's ``main()`` in this process and stamps, from the script's
start: each Hydra composition, each trial's preparation, each program's
lowering and XLA compile, each trial's run (by thread), the jobs' files and
results, the reports and the end of ``main()``. Prints one line per phase and
a summary; the ninth session's figures (docs/benchmarks.md, issue 14) came
from it. ``--setting`` runs ``bench_structural.py``'s command for that family
on cold caches in a temporary directory; anything after ``--`` is the
command's own arguments instead.

    .venv/bin/python benchmarks/sweep_timeline.py --setting mlp [--json PATH]
    .venv/bin/python benchmarks/sweep_timeline.py -- -m +search=mlp hydra/sweeper=random ...
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before anything heavy is imported

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

EVENTS: list[tuple[str, str, float, float]] = []  # (thread, phase, start, end), from START


def stamped(owner: Any, name: str, phase: str) -> None:
    """Replaces ``owner.name`` with a wrapper that records each call as ``phase``."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter() - START
        try:
            return original(*args, **kwargs)
        finally:
            end = time.perf_counter() - START
            EVENTS.append((threading.current_thread().name, phase, start, end))

    setattr(owner, name, wrapper)


def instrument() -> None:
    # Imported here, after START: their import time is part of the timeline.
    import jax.stages
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from hpfw.launch import jobs
    from hpfw.sweeper import report_writer
    from hpfw.trainer import compiled, groups, one_by_one

    stamped(ConfigLoaderImpl, "load_configuration", "hydra composition")
    stamped(groups, "prepare", "prepare a trial")
    stamped(compiled, "_compile", "lower and compile a program")
    stamped(jax.stages.Lowered, "compile", "XLA compile")
    stamped(one_by_one, "train_prepared", "trial")
    stamped(jobs.JobRunner, "write_files", "job files")
    stamped(jobs.JobRunner, "run", "job")
    stamped(report_writer.ReportWriter, "write", "reports")


def summary(total: float) -> list[str]:
    """One line per phase: calls, first start, last end, summed seconds."""
    lines = []
    for phase in dict.fromkeys(p for _, p, _, _ in sorted(EVENTS, key=lambda e: e[2])):
        spans = [(s, e) for _, p, s, e in EVENTS if p == phase]
        lines.append(
            f"{phase:28s} {len(spans):3d}x  {min(s for s, _ in spans):6.2f} -> "
            f"{max(e for _, e in spans):6.2f} s  (summed {sum(e - s for s, e in spans):6.2f} s)"
        )
    lines.append(f"{'main() returned':28s}       {total:6.2f} s")
    return lines


def setting_arguments(setting: str, work: Path) -> list[str]:
    """``bench_structural.py``'s command for ``setting``, on cold caches under ``work``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_structural import CONTINUOUS, SETTINGS, hpfw_sweep

    os.environ["HPFW_CACHE_DIR"] = str(work / "cache")
    os.environ["HPFW_DATA_CACHE_DIR"] = str(work / "data")
    arguments = hpfw_sweep([*SETTINGS[setting], *CONTINUOUS], 64)[2:]  # after "-m hpfw"
    return [*arguments, f"hydra.sweep.dir={work / 'sweep'}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", help="a family of bench_structural.py (mlp, cnn, ...)")
    parser.add_argument("--json", help="write the events here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then hpfw's arguments")
    args = parser.parse_args()
    command = [a for a in args.command if a != "--"]
    work = Path(tempfile.mkdtemp(prefix="hpfw-timeline-"))
    if args.setting:
        command = setting_arguments(args.setting, work)
    if not command:
        parser.error("give --setting or -- and the hpfw command's arguments")
    instrument()
    from hpfw.cli import main as hpfw_main

    sys.argv = ["hpfw", *command]
    try:
        hpfw_main()
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            raise
    total = time.perf_counter() - START
    print("\n".join(summary(total)), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(EVENTS))


if __name__ == "__main__":
    main()
