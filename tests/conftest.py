"""Test isolation: caches in a temporary directory, and counters reset before every test.

- Nothing a test does reads or writes the user's home directory: JAX's
  persistent compilation cache (``HPFW_CACHE_DIR``, the default of
  ``trainer.compilation_cache_dir``), the prepared-data cache
  (``HPFW_DATA_CACHE_DIR``) and the device locks (``HPFW_DEVICE_LOCK_DIR``)
  live in one temporary directory per test session. They are set in
  ``os.environ``, so every subprocess a test starts (``hpfw``, the toy apps,
  launcher workers) inherits them.
- No test depends on the tests before it: the process-wide compile counters
  and the batched launcher's measured speeds start from zero in every test.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers' asserts (``assert_same_run``) explain their failures as a test's would.
pytest.register_assert_rewrite("tests.helpers")

# Set at import, before any test composes a config (``${oc.env:HPFW_CACHE_DIR,...}``
# resolves when a config is composed) or loads a dataset. One directory per session:
# the compilation cache is still shared by the session's tests and subprocesses.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="hpfw-tests-"))
CACHE_ENV = {
    "HPFW_CACHE_DIR": str(_SESSION_DIR / "jax"),
    "HPFW_DATA_CACHE_DIR": str(_SESSION_DIR / "data"),
    "HPFW_DEVICE_LOCK_DIR": str(_SESSION_DIR / "devices"),
}
os.environ.update(CACHE_ENV)


@pytest.fixture(scope="session", autouse=True)
def session_caches() -> Iterator[Path]:
    """The session's cache directory, removed when the session ends."""
    yield _SESSION_DIR
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    """Zeroes the compile counters and forgets measured group speeds before each test.

    Only modules a test already imported are touched, so a test that never
    imports JAX does not pay for it here.
    """
    compiled = sys.modules.get("hpfw.trainer.compiled")
    if compiled is not None:
        compiled.PROGRAMS.reset_compile_count()
    evaluate = sys.modules.get("hpfw.lm.evaluate")
    if evaluate is not None:
        evaluate.PROGRAMS.reset_compile_count()
    groups = sys.modules.get("hpfw.trainer.groups")
    if groups is not None:
        groups._speeds.clear()
    yield


@pytest.fixture
def no_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    """For in-process sweeps in tests about which trials run, not the reports.

    No PNGs and no report.html: drawing them is most of a small sweep's time.
    best.yaml and trials.csv are still written. The drawings have tests of their
    own (test_report*.py, and the tests that look for the files).
    """
    monkeypatch.setattr("hpfw.sweeper.plots.draw_all", lambda *args, **kwargs: None)
    monkeypatch.setattr("hpfw.sweeper.report_html.write_html", lambda *args, **kwargs: None)
