"""Ends the ``hpfw`` command without the interpreter's final teardown.

When a sweep is done, Python's finalisation (collecting every module and
running the native destructors of XLA's client, executables and thread pools)
takes 0.8-1 s on this 2-core CPU, a few percent of a one-minute sweep, with
nothing left to write (docs/benchmarks.md, issue 14, "Ninth session"). So the
console script registers ``exit_after_shutdown`` before anything else is
imported: ``atexit`` runs handlers last-registered first, so this one runs
after every other handler (JAX's, logging's, a launcher's), and after Python
has joined the non-daemon threads; it then flushes the standard streams and
leaves with ``os._exit``. A command that ends with an uncaught exception exits
the usual way, traceback and all.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from collections.abc import Callable

_status: list[int] = []  # the command's exit status, once it has one


def run_then_exit(main: Callable[[], object]) -> None:
    """Runs ``main`` (the command); when it returns or calls ``sys.exit``, exits quickly."""
    atexit.register(exit_after_shutdown)
    try:
        main()
    except SystemExit as exit_:
        _status.append(status_of(exit_.code))
        raise  # Python prints a message (a str code), then runs the exit handlers
    _status.append(0)


def status_of(code: object) -> int:
    """The process status ``sys.exit(code)`` gives: None is 0, a message is 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def exit_after_shutdown() -> None:
    """The last exit handler: flushes the streams and leaves with the command's status."""
    if not _status:  # an uncaught exception: the usual exit
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to say
            stream.flush()
    os._exit(_status[0])
