"""Headless Chromium for the browser tests: Debian's package driven by Playwright, never a downloaded browser."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CAPSULE_LESSON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def why_no_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (it is in the test extra: pip install -e '.[test]')"
    if not CHROMIUM.exists():
        # conftest.py's summary line counts skips whose reason starts with these words
        return (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does); "
                "this test never lets Playwright download a browser")
    return None


NO_BROWSER = why_no_browser()
needs_browser = pytest.mark.skipif(NO_BROWSER is not None, reason=NO_BROWSER or "")
