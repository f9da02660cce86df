"""Shared pytest set-up: quiet TensorFlow, notebooks run as on an offline machine, nbval compares what a reader sees."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before any TensorFlow import, kernels included

try:
    from hypothesis import settings

    # First calls into TensorFlow/JAX compile; a per-example deadline would flake.
    settings.register_profile("course", deadline=None, max_examples=40)
    settings.load_profile("course")
except ImportError:  # hypothesis is a test extra
    pass

BROWSER_SKIP_PREFIXES = ("Chromium not found", "Playwright for Python is not installed")


def _is_notebook(node):
    return str(node.fspath).endswith(".ipynb")


def pytest_collectstart(collector):
    # stderr carries library log lines that differ between machines; only stdout/results are compared.
    if collector.fspath and _is_notebook(collector):
        collector.skip_compare += ("stderr",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """nbval starts a notebook's kernel while setting up its first cell: start it as on an offline machine
    without the full datasets, so a run with CAPSULE_LESSON_DATA set (CI) also proves the outputs need neither."""
    if not _is_notebook(item):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CAPSULE_LESSON_DATA", raising=False)
        patch.setenv("CAPSULE_LESSON_OFFLINE", "1")
        yield


def pytest_terminal_summary(terminalreporter):
    """One clear line when the browser tests could not run, and how to get them."""
    reasons = [str(report.longrepr[2]) for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple)]
    skipped = [r for r in reasons if any(prefix in r for prefix in BROWSER_SKIP_PREFIXES)]
    if skipped:
        chromium = os.environ.get("CAPSULE_LESSON_CHROMIUM", "/usr/bin/chromium")
        terminalreporter.write_line(
            f"BROWSER TESTS SKIPPED ({len(skipped)}): they need Playwright (pip install -e '.[test]') and Chromium "
            f"at {chromium}; install Chromium with `sudo apt-get install chromium` (Debian/Ubuntu), then rerun "
            "`bash run.sh test`.", yellow=True, bold=True)
