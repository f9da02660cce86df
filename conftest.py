"""Shared pytest set-up: quiet TensorFlow, and nbval that compares only what a reader sees."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before any TensorFlow import, kernels included

try:
    from hypothesis import settings

    # First calls into TensorFlow/JAX compile; a per-example deadline would flake.
    settings.register_profile("course", deadline=None, max_examples=40)
    settings.load_profile("course")
except ImportError:  # hypothesis is a test extra
    pass


def pytest_collectstart(collector):
    # stderr carries library log lines that differ between machines; only stdout/results are compared.
    if collector.fspath and str(collector.fspath).endswith(".ipynb"):
        collector.skip_compare += ("stderr",)
