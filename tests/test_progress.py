"""A sweep's progress: a rich bar on a terminal, plain log lines elsewhere (CI, SLURM)."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from hpfw.search import Trial
from hpfw.sweeper import live
from hpfw.sweeper.progress import Progress


def run(progress: Progress) -> None:
    """Two batches of two trials: one fails; the best is trial 1."""
    progress.started(2)
    progress.finished(False)
    progress.finished(True)
    progress.log(Trial(0, {}, value=0.5))
    progress.started(2)
    progress.finished(False)
    progress.log(Trial(1, {}, value=0.25))
    progress.close()


def test_terminal_gets_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(live.ENV, raising=False)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    progress = Progress(5, 0, 0, console=console)
    assert progress._bar is not None
    run(progress)
    text = out.getvalue()
    assert "sweep" in text and "3/5" in text
    assert "1 running" in text and "1 failed" in text
    assert "best 0.25 (#1)" in text and "ETA" in text
    assert "\x1b[" in text  # drawn with terminal control codes


def test_bar_keeps_log_lines_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(live.ENV, raising=False)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    progress = Progress(2, 0, 0, console=console)
    progress.started(1)
    logging.getLogger("hpfw.test").warning("a line from a trial")
    print("printed by a trial")
    progress.finished(False)
    progress.close()
    text = out.getvalue()
    assert "printed by a trial" in text  # through rich's proxy, not torn into the bar


def test_not_a_terminal_logs_plain_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(live.ENV, raising=False)
    out = io.StringIO()
    progress = Progress(5, 0, 0, console=Console(file=out))
    assert progress._bar is None
    with caplog.at_level(logging.INFO, logger="hpfw.sweeper"):
        run(progress)
    lines = [r.getMessage() for r in caplog.records if r.name == "hpfw.sweeper"]
    assert lines[0].startswith("[2/5] best 0.5 (trial 0) | 1 failed |")
    assert lines[1].startswith("[3/5] best 0.25 (trial 1) | 1 failed |") and "left" in lines[1]
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("env", "terminal", "bar"),
    [
        ("plain", True, False),
        ("bar", False, True),
        ("", True, True),
        ("", False, False),
    ],
)
def test_environment_overrides_the_guess(
    monkeypatch: pytest.MonkeyPatch, env: str, terminal: bool, bar: bool
) -> None:
    monkeypatch.setenv(live.ENV, env)
    console = Console(file=io.StringIO(), force_terminal=terminal)
    assert live.wants_bar(console) is bar
