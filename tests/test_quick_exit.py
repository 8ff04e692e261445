"""The ``hpfw`` command's quick exit keeps the exit status, the output and every exit handler."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def run_command(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Runs ``body`` as the command's main under ``run_then_exit`` in a fresh interpreter."""
    script = tmp_path / "command.py"
    script.write_text(
        "import atexit, logging, sys, threading, time\n"
        "from hpfw.quick_exit import run_then_exit\n"
        "def main():\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n"
        "run_then_exit(main)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as usual
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.parametrize(
    ("ending", "status"),
    [("return", 0), ("sys.exit()", 0), ("sys.exit(3)", 3), ("sys.exit('bad value')", 1)],
)
def test_the_status_and_the_output_survive(tmp_path: Path, ending: str, status: int) -> None:
    done = run_command(
        tmp_path,
        f"""
        print("unflushed", end="")
        logging.basicConfig(filename="app.log", level=logging.INFO)
        logging.info("logged")
        {ending}
        """,
    )
    assert done.returncode == status
    assert done.stdout == "unflushed"
    assert "logged" in (tmp_path / "app.log").read_text()
    if status == 1:
        assert done.stderr.strip() == "bad value"


def test_exit_handlers_and_threads_finish_first(tmp_path: Path) -> None:
    done = run_command(
        tmp_path,
        """
        atexit.register(lambda: open("handler", "w").write("ran"))
        atexit.register(print, "said at exit", end="")  # buffered: flushed before leaving
        def late():
            time.sleep(0.5)
            open("thread", "w").write("ran")
        threading.Thread(target=late).start()  # a non-daemon thread: waited for
        """,
    )
    assert done.returncode == 0
    assert done.stdout == "said at exit"
    assert (tmp_path / "handler").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "ran"


def test_an_uncaught_exception_exits_as_usual(tmp_path: Path) -> None:
    done = run_command(tmp_path, "raise RuntimeError('boom')")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: boom" in done.stderr
