"""Benchmark suite for the capsule layer and the course.

Run ``python -m benchmarks`` (``--help`` for options). See ``benchmarks/README.md``.
"""
