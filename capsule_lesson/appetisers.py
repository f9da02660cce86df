"""The article's two appetisers (小菜1 and 小菜2): iterations that solve an equation defined through itself.

1. ``y + cos(y) = x`` has no closed-form inverse; iterate ``y <- x - cos(y)`` from ``y = x``.
2. ``x = sum_i softmax_i(scale <x, x_i>) x_i`` defines an aggregate through itself; iterate from the mean.
"""

import numpy as np

from .checks import numeric_array, whole_number


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
    return whole_number(iterations, "iterations", 0, "a non-negative integer")


def make_cloud(n_clusters=3, spread=0.4, seed=0, n_points=60, box=3.0):
    """A 2-D point cloud: ``n_clusters`` Gaussian blobs of unequal size.

    Centres are uniform in ``[-box, box]^2``; cluster sizes follow a Dirichlet draw (every cluster gets at least
    two points); each blob has standard deviation ``spread``. Returns ``(points (n, 2), labels (n,), centres)``.
    """
    if n_clusters < 1 or n_points < 2 * n_clusters:
        raise ValueError(f"need n_clusters >= 1 and n_points >= 2 * n_clusters, got {n_clusters}, {n_points}")
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-box, box, size=(n_clusters, 2))
    share = rng.dirichlet(np.full(n_clusters, 2.0))
    sizes = 2 + rng.multinomial(n_points - 2 * n_clusters, share)
    labels = np.repeat(np.arange(n_clusters), sizes)
    points = centres[labels] + spread * rng.standard_normal((n_points, 2))
    return points, labels, centres


def steps_to_converge(points, scale=1.0, tol=1e-6, max_iterations=300):
    """First n with ``||x_{n+1} - x_n|| < tol`` for the iteration started at the mean; ``max_iterations``
    if it has not settled by then."""
    xs = softmax_aggregate(points, max_iterations, scale)
    moves = np.linalg.norm(np.diff(xs, axis=0), axis=1)
    settled = np.flatnonzero(moves < tol)
    return int(settled[0]) if settled.size else int(max_iterations)


def jacobian(x, points, scale=1.0):
    """Derivative of the map ``x -> sum_i w_i(x) x_i`` at x: ``scale * (sum_i w_i x_i x_i^T - m m^T)``, where
    ``m = sum_i w_i x_i``; a weighted covariance of the points, so symmetric with eigenvalues >= 0."""
    w = aggregation_weights(x, points, scale)
    m = w @ points
    return scale * ((points * w[:, None]).T @ points - np.outer(m, m))


def critical_scale(points):
    """``1 / (largest eigenvalue of the points' covariance)``: the scale at which the map's derivative at the
    mean reaches 1, so the mean stops attracting the iteration (a first-order estimate)."""
    return 1.0 / np.linalg.eigvalsh(np.cov(points.T, bias=True)).max()


def energy(x, points, scale=1.0):
    """``E(x) = ||x||^2 / 2 - (1/scale) log sum_i exp(scale <x, x_i>)``: never increases along the iteration."""
    logits = scale * (points @ x)
    top = logits.max()
    return 0.5 * float(x @ x) - (top + np.log(np.exp(logits - top).sum())) / scale


def errors(x, iterations):
    """``|y_n - y*|`` for n = 0..iterations (shape ``(iterations + 1, *x.shape)``)."""
    return np.abs(fixed_point_inverse(x, iterations) - inverse_by_bisection(x))


def observed_contraction(x, iterations=400, floor=1e-7):
    """The measured ratio ``|e_{n+1}| / |e_n|`` at the last step where the error is still above ``floor``.

    For a contraction with derivative ``g'(y*) = sin(y*)`` this tends to ``|sin(y*)|``. Returns ``nan`` when
    the very first error is already below ``floor`` (the start ``y_0 = x`` happened to be the answer).
    """
    e = errors(float(x), iterations)
    usable = np.flatnonzero(e[1:] > floor)  # pairs (e_n, e_{n+1}) with e_{n+1} above the floor
    if usable.size == 0 or e[0] <= floor:
        return float("nan")
    n = usable[-1]
    return float(e[n + 1] / e[n])


def steps_to_tolerance(x, tol=1e-6, max_iterations=500):
    """Smallest n with ``|y_n - y*| < tol`` for each x; ``max_iterations + 1`` where it never gets there."""
    e = errors(np.asarray(x, dtype=np.float64), max_iterations)
    reached = e < tol
    return np.where(reached.any(axis=0), reached.argmax(axis=0), max_iterations + 1)


def unrolled_derivative(x, steps):
    """``dy_n/dx`` of the unrolled iteration, by the chain rule ``d_{n+1} = 1 + sin(y_n) d_n``, ``d_0 = 1``.

    A NumPy check of what automatic differentiation gives for the unrolled network.
    """
    ys = fixed_point_inverse(x, steps)
    d = np.ones_like(ys[0])
    for n in range(steps):
        d = 1.0 + np.sin(ys[n]) * d
    return d


def implicit_derivative(x):
    """``dy/dx = 1 / (1 - sin y*)`` of the exact inverse (implicit function theorem on ``x = y + cos y``)."""
    return 1.0 / (1.0 - np.sin(inverse_by_bisection(x)))
