"""Benchmark suite for the capsule layer and the course (issue 6).

Run ``python -m benchmarks`` (``--help`` for options). See ``benchmarks/README.md``.
"""
