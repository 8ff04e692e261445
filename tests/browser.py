"""Headless Chromium for report.html tests: Debian's browser driven by playwright.

Never playwright's own browser download: ``executable_path`` points at the
system Chromium. Under CI (``CI=true``) a missing browser fails the test, since
the README's test command installs it (scripts/install-test-deps); elsewhere
the test is skipped with the reason.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The system Chromium's path, or skip (fail under CI) saying how to get it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path, missing = None, "the playwright package (pip install -e '.[dev]')"
    else:
        missing = "Chromium (scripts/install-test-deps, or apt-get install chromium)"
    if path is None:
        message = f"report.html browser test needs {missing}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run it")
        pytest.skip(message)
    return path


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def load(browser: Any, path: Path) -> tuple[Any, dict, list[str], list[str]]:
    """Opens ``path``; returns the page, window.hpfwReport, console errors and remote requests."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    remote: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else remote.append(r.url),
    )
    page.goto(path.resolve().as_uri())
    page.wait_for_function("window.hpfwReport && window.hpfwReport.done", timeout=60_000)
    return page, page.evaluate("window.hpfwReport"), errors, remote


def ink(png: bytes) -> float:
    """The share of a screenshot's pixels that are not (near) white: 0 for a blank chart."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    return 1.0 - sum(histogram[245:]) / (image.width * image.height)
