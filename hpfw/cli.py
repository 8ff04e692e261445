"""The ``hpfw`` console script (and ``python -m hpfw``): the Hydra app, ``report``, ``export``."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any

from hpfw.process import allocate_gpu_memory_on_demand
from hpfw.quick_exit import run_then_exit


def _check_overrides(arguments: list[str]) -> None:
    """Rejects an override Hydra cannot parse with one line, before Hydra starts.

    Hydra would report it too, over several lines with a stack-trace hint.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for argument in arguments:
        if argument.startswith("-") or ("=" not in argument and not argument.startswith("~")):
            continue
        try:
            parser.parse_override(argument)
        except HydraException as error:
            reason = " ".join(str(error).split("\n")[1:2]) or str(error)
            print(f"hpfw: error: bad override {argument!r}: {reason}", file=sys.stderr)
            sys.exit(2)


def report(argv: list[str]) -> int:
    """``hpfw report <sweep dir>``: redraws every report file and prints the summary."""
    from hpfw.sweeper.journal import Journal, JournalError
    from hpfw.sweeper.reports import write_reports
    from hpfw.sweeper.summary import print_summary

    parser = argparse.ArgumentParser(
        prog="hpfw report",
        description="Redraw a sweep's reports from its journal and print a summary.",
    )
    parser.add_argument("sweep_dir", help="the sweep directory (holding trials.jsonl)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on --help and usage errors
        return int(exit_.code or 0)
    try:
        journal = Journal.locate(args.sweep_dir)
        header, trials = journal.read()
    except JournalError as error:
        print(f"hpfw report: {error}", file=sys.stderr)
        return 2
    sweep_dir = journal.sweep_dir
    write_reports(sweep_dir, header, trials)
    print_summary(header, trials)
    print(f"Interactive report: {sweep_dir / 'report.html'}")
    return 0


def _complete(hydra_main: Callable[[], Any]) -> None:
    """Hydra's shell completion, without hpfw's internal ``schema`` groups in its answers."""
    from hpfw.help import without_hidden

    answer = io.StringIO()
    try:
        with contextlib.redirect_stdout(answer):
            hydra_main()
    finally:
        sys.stdout.write(without_hidden(answer.getvalue()))


def _is_completion_query(arguments: list[str]) -> bool:
    """``-sc query=<shell>``: the line a completion script runs at each Tab."""
    flag = {"-sc", "--shell-completion"} & set(arguments)
    return bool(flag) and any(a.startswith("query=") for a in arguments)


def run() -> None:
    """The console script: ``main``, then an exit without the interpreter's teardown."""
    run_then_exit(main)


def main() -> None:
    allocate_gpu_memory_on_demand()  # this process and the trials it starts
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        sys.exit(report(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        from hpfw.sweeper.optuna_export import main as export

        sys.exit(export(sys.argv[2:]))
    if "--version" in sys.argv[1:]:  # hpfw's, not Hydra's (which --hydra-help still names)
        from hpfw.about import version_text

        print(version_text())
        sys.exit(0)
    if os.environ.get("HYDRA_FULL_ERROR") != "1":
        _check_overrides(sys.argv[1:])
    from hpfw.app import main as hydra_main

    if _is_completion_query(sys.argv[1:]):
        _complete(hydra_main)
        return
    if _prints_hydra_config(sys.argv[1:]):
        # OmegaConf drops comments: put each sweeper option's comment back (docs/sweeps.md).
        from hpfw.sweeper.commented import commented_output

        with commented_output():
            hydra_main()
        return
    hydra_main()


def _prints_hydra_config(arguments: list[str]) -> bool:
    """Whether Hydra is asked to print the ``hydra`` node (``--cfg hydra`` or ``--cfg all``)."""
    for i, argument in enumerate(arguments):
        shown = arguments[i + 1] if i + 1 < len(arguments) else None
        if argument in ("--cfg", "-c") and shown in ("hydra", "all"):
            return True
        if argument in ("--cfg=hydra", "--cfg=all"):
            return True
    return False
