"""Statistics over training seeds: how the course states a result with its spread, and compares two settings.

Each configuration is trained with a few seeds (three, mostly); these helpers keep every table honest about that.
"""

from itertools import combinations

import numpy as np


def mean_std(vals, scale=100.0, digits=1):
    """``"86.4"`` (one value), ``"77.5 ± 11.4"`` (mean ± sample std), or ``"not run"``."""
    vals = np.asarray(vals, dtype=float) * scale
    if vals.size == 0:
        return "not run"
    if vals.size == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{vals.mean():.{digits}f} ± {vals.std(ddof=1):.{digits}f}"


def compare_seeds(a, b):
    """Compare two configurations by their per-seed values ``a`` and ``b`` (1-D, at least one each).

    Returns ``(difference, separated, p)``: mean(a) - mean(b); whether every value of one lies above every
    value of the other; and the exact one-sided permutation p-value in the direction of the difference
    (the share of all ways to split the pooled values into groups of ``len(a)`` and ``len(b)`` whose mean
    difference is at least as large). With three seeds against three the smallest possible p is 1/20.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or not a.size or not b.size:
        raise ValueError(f"compare_seeds needs two non-empty 1-D arrays, got shapes {a.shape} and {b.shape}")
    pooled, observed = np.concatenate([a, b]), a.mean() - b.mean()
    sign = 1.0 if observed >= 0 else -1.0
    splits = list(combinations(range(pooled.size), a.size))
    as_extreme = 0
    for chosen in splits:
        mask = np.zeros(pooled.size, bool)
        mask[list(chosen)] = True
        as_extreme += sign * (pooled[mask].mean() - pooled[~mask].mean()) >= sign * observed - 1e-12
    separated = bool(a.min() > b.max() or b.min() > a.max())
    return float(observed), separated, float(as_extreme / len(splits))


def seed_verdict(a, b, digits=1, scale=100.0):
    """:func:`compare_seeds` of ``scale * a`` against ``scale * b`` as table text, e.g. ``"+11.2  p = 0.05 *"``
    (difference of the means, one-sided p, ``*`` when every value of one side beats every value of the other)."""
    diff, separated, p = compare_seeds(scale * np.asarray(a, dtype=float), scale * np.asarray(b, dtype=float))
    return f"{diff:+.{digits}f}  p = {p:.2f}{' *' if separated else '  '}"


def format_table(header, rows, align=None):
    """A plain-text table: ``header`` and ``rows`` are sequences of strings (or numbers).

    ``align``: one of ``"<"``/``">"`` per column (default: first column left, the others right).
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    n = len(cells[0])
    if any(len(r) != n for r in cells):
        raise ValueError("every row needs as many cells as the header")
    align = align or ["<"] + [">"] * (n - 1)
    widths = [max(len(r[k]) for r in cells) for k in range(n)]

    def line(row):
        return " | ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])
