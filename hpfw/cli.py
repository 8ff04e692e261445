"""The ``hpfw`` console script (and ``python -m hpfw``): the Hydra app, plus ``hpfw report``."""

from __future__ import annotations

import os
import sys

from hpfw.process import allocate_gpu_memory_on_demand


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


def main() -> None:
    allocate_gpu_memory_on_demand()  # this process and the trials it starts
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        from hpfw.sweep.report import main as report_main

        sys.exit(report_main(sys.argv[2:]))
    if os.environ.get("HYDRA_FULL_ERROR") != "1":
        _check_overrides(sys.argv[1:])
    from hpfw.app import main as hydra_main

    hydra_main()
