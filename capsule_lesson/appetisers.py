"""The article's two appetisers (section 3): iterations that solve an equation defined through itself.

1. ``y + cos(y) = x`` has no closed-form inverse; iterate ``y <- x - cos(y)`` from ``y = x``.
2. ``x = sum_i softmax_i(scale <x, x_i>) x_i`` defines an aggregate through itself; iterate from the mean.
"""

import numpy as np

from .checks import numeric_array


def fixed_point_inverse(x, iterations):
    """Approximate the inverse of ``x = y + cos(y)`` by ``y_{n+1} = x - cos(y_n)``, ``y_0 = x``.

    Args:
        x: number or array of any shape.
        iterations: number of steps, >= 0.

    Returns:
        The trajectory ``[y_0, ..., y_iterations]``, shape ``(iterations + 1, *x.shape)``.
    """
    iterations = _check_iterations(iterations)
    x = numeric_array(x, "x")
    ys = [x]
    for _ in range(iterations):
        ys.append(x - np.cos(ys[-1]))
    return np.stack(ys)


def inverse_by_bisection(x, tol=1e-12):
    """The inverse of ``x = y + cos(y)`` computed another way, to check :func:`fixed_point_inverse`.

    ``f(y) = y + cos(y)`` never decreases (``f'(y) = 1 - sin(y) >= 0``) and ``|f(y) - y| <= 1``,
    so the root lies in ``[x - 1, x + 1]`` and bisection finds it.
    """
    x = numeric_array(x, "x")
    lo, hi = x - 1.0, x + 1.0
    while np.max(hi - lo) > tol:
        mid = (lo + hi) / 2
        too_big = mid + np.cos(mid) > x
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    return (lo + hi) / 2


def aggregation_weights(x, points, scale=1.0):
    """Softmax weights ``softmax_i(scale <x, x_i>)`` of the points ``(n, d)`` seen from ``x`` ``(d,)``."""
    x, points = numeric_array(x, "x"), _check_points(points)
    scale = float(numeric_array(scale, "scale"))
    if x.shape != points.shape[1:]:
        raise ValueError(f"x must have shape ({points.shape[1]},) to match points {points.shape}, got {x.shape}")
    logits = scale * (points @ x)
    logits = logits - logits.max()  # softmax is shift-invariant; this avoids overflow
    weights = np.exp(logits)
    return weights / weights.sum()


def softmax_aggregate(points, iterations, scale=1.0):
    """Aggregate points ``(n, d)`` into one vector by ``x <- sum_i softmax_i(scale <x, x_i>) x_i``.

    Starts from the mean of the points. Returns the trajectory, shape ``(iterations + 1, d)``.
    """
    iterations = _check_iterations(iterations)
    points = _check_points(points)
    xs = [points.mean(axis=0)]
    for _ in range(iterations):
        xs.append(aggregation_weights(xs[-1], points, scale) @ points)
    return np.stack(xs)


def _check_points(points):
    points = numeric_array(points, "points")
    if points.ndim != 2 or points.shape[0] == 0:
        raise ValueError(
            f"points must have shape (n, d) with n >= 1, got shape {points.shape}")
    return points


def _check_iterations(iterations):
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    return int(iterations)
