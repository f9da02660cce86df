"""Trial and error against gradients (the article's 反向传播好不好), measured on a tiny model.

Least squares ``L(θ) = ½ mean((Xθ − y)²)`` fitted three ways: gradient descent (one forward and one backward pass
a step), the article's "try and interpolate" one parameter at a time (:func:`fit_by_trial`), and random
perturbation of all parameters at once, kept when the loss drops (a (1+1) evolution strategy,
:func:`fit_by_random_perturbation`). Cost is counted in passes over the data: a loss evaluation is one pass
(``Xθ``), a gradient one more (``Xᵀr``).
"""

from typing import NamedTuple

import numpy as np

from .checks import numeric_array


METHODS = ("gradient", "trial", "random")


METHOD_LABELS = {"gradient": "gradient descent (backprop)",
                 "trial": "try and interpolate, one parameter at a time",
                 "random": "random perturbation, all at once ((1+1)-ES)"}


class LeastSquares(NamedTuple):
    """``L(θ) = ½ mean((xθ − y)²)``, its minimiser ``theta_star``, ``loss_star = L(theta_star)`` and
    ``lipschitz``, the largest eigenvalue of ``xᵀx / n`` (gradient descent's safe step is its inverse)."""

    x: np.ndarray
    y: np.ndarray
    theta_star: np.ndarray
    loss_star: float
    lipschitz: float


def least_squares_problem(n_params, seed=0, samples_per_param=4, noise=0.1):
    """A random least-squares problem with ``n_params`` parameters and ``samples_per_param * n_params`` rows.

    Gaussian rows keep the conditioning about the same at every size (the eigenvalues of ``xᵀx / n`` fill
    ``[(1 − 1/√s)², (1 + 1/√s)²]`` for ``s = samples_per_param``), so a change of cost with ``n_params`` is the
    methods' doing, not the problem's.
    """
    if int(n_params) != n_params or n_params < 1:
        raise ValueError(f"n_params must be a positive integer, got {n_params!r}")
    if samples_per_param < 1:
        raise ValueError(f"samples_per_param must be >= 1, got {samples_per_param!r}")
    n_params = int(n_params)
    rng = np.random.default_rng(seed)
    n = max(2, int(round(samples_per_param * n_params)))
    x = rng.normal(size=(n, n_params))
    theta_true = rng.normal(size=n_params)
    y = x @ theta_true + noise * rng.normal(size=n)
    gram = x.T @ x / n
    theta_star = np.linalg.solve(gram, x.T @ y / n)           # the normal equations: ∇L(θ*) = 0
    loss_star = 0.5 * float(np.mean((x @ theta_star - y) ** 2))
    lipschitz = float(np.linalg.eigvalsh(gram).max())
    return LeastSquares(x, y, theta_star, loss_star, lipschitz)


def loss(problem, theta):
    """``½ mean((xθ − y)²)``: one pass over the data."""
    r = problem.x @ theta - problem.y
    return 0.5 * float(np.mean(r ** 2))


def gradient(problem, theta):
    """``(L(θ), ∇L(θ))``: the forward pass gives the residual ``r`` and the loss, the backward pass ``xᵀr / n``."""
    r = problem.x @ theta - problem.y
    return 0.5 * float(np.mean(r ** 2)), problem.x.T @ r / len(r)


class Trace(NamedTuple):
    """``passes[k]``: passes over the data spent when ``excess[k] = L(θ) − L*`` was known; ``reached``: the
    passes at which the excess first fell to the target (``None`` if the budget ran out first); ``path``: the
    θ of each entry ``(len(passes), n_params)`` when asked for (``keep_path=True``), else ``None``."""

    passes: np.ndarray
    excess: np.ndarray
    reached: int | None
    path: np.ndarray | None = None


def _trace(passes, excess, target, path=None):
    passes, excess = np.asarray(passes), np.asarray(excess)
    hit = np.flatnonzero(excess <= target)
    return Trace(passes, excess, int(passes[hit[0]]) if len(hit) else None,
                 None if path is None else np.asarray(path))


def _target(problem, tolerance):
    start = loss(problem, np.zeros(problem.x.shape[1])) - problem.loss_star
    return tolerance * start


def fit_by_gradient(problem, tolerance=1e-2, max_passes=100_000, keep_path=False):
    """Gradient descent from θ = 0 with the step ``1 / lipschitz`` until ``L − L*`` is ``tolerance`` times its
    starting value. Each step costs 2 passes: forward (the loss, the residual) and backward (the gradient)."""
    target = _target(problem, tolerance)
    theta = np.zeros(problem.x.shape[1])
    step = 1.0 / problem.lipschitz
    passes, excess, path, spent = [], [], [], 0
    while spent < max_passes:
        value, grad = gradient(problem, theta)
        spent += 1                                   # the forward pass: now L(θ) is known
        passes.append(spent)
        excess.append(value - problem.loss_star)
        path.append(theta)
        if excess[-1] <= target:
            break
        theta = theta - step * grad
        spent += 1                                   # the backward pass
    return _trace(passes, excess, target, path if keep_path else None)


def parabola_step(f_minus, f_zero, f_plus, h):
    """Where the parabola through ``(−h, f_minus), (0, f_zero), (h, f_plus)`` has its minimum, relative to 0.

    The "interpolate" of the article's try-and-interpolate; ``0`` when the three points do not curve upwards
    (no minimum to move to), else ``h (f₋ − f₊) / (2 (f₊ + f₋ − 2 f₀))``.
    """
    curvature = f_plus + f_minus - 2.0 * f_zero
    if curvature <= 0:
        return 0.0
    return h * (f_minus - f_plus) / (2.0 * curvature)


def fit_by_trial(problem, tolerance=1e-2, max_passes=100_000, h=0.5, keep_path=False):
    """The article's trial and error: for each parameter in turn, try it ``h`` higher and ``h`` lower
    (2 passes), move it to the minimum of the parabola through the three losses and evaluate there (1 pass);
    sweep over the parameters until ``L − L*`` reaches the target. Only losses are used, never a derivative."""
    target = _target(problem, tolerance)
    d = problem.x.shape[1]
    theta = np.zeros(d)
    current = loss(problem, theta)
    spent, passes, excess, path = 1, [1], [current - problem.loss_star], [theta]
    while excess[-1] > target and spent < max_passes:
        for k in range(d):
            e = np.zeros(d)
            e[k] = h
            f_plus, f_minus = loss(problem, theta + e), loss(problem, theta - e)
            delta = parabola_step(f_minus, current, f_plus, h)
            candidate = theta.copy()
            candidate[k] += delta
            f_new = loss(problem, candidate)
            spent += 3
            best = min((f_new, 0), (f_plus, 1), (f_minus, 2), (current, 3))
            theta = (candidate, theta + e, theta - e, theta)[best[1]]
            current = best[0]
            passes.append(spent)
            excess.append(current - problem.loss_star)
            path.append(theta)
            if excess[-1] <= target or spent >= max_passes:
                break
    return _trace(passes, excess, target, path if keep_path else None)


def fit_by_random_perturbation(problem, tolerance=1e-2, max_passes=100_000, seed=0, keep_path=False):
    """Random search: perturb every parameter at once by ``σ · N(0, 1)``, keep the new θ if its loss is lower
    (1 pass each try). The step ``σ`` adapts by the one-fifth success rule (it grows when more than a fifth of
    the tries succeed, shrinks otherwise), as in a (1+1) evolution strategy."""
    target = _target(problem, tolerance)
    d = problem.x.shape[1]
    rng = np.random.default_rng(seed)
    theta = np.zeros(d)
    current = loss(problem, theta)
    sigma = 1.0 / np.sqrt(d)
    damping = 1.0 + d / 2.0
    spent, passes, excess, path = 1, [1], [current - problem.loss_star], [theta]
    while excess[-1] > target and spent < max_passes:
        candidate = theta + sigma * rng.normal(size=d)
        value = loss(problem, candidate)
        spent += 1
        success = value < current
        if success:
            theta, current = candidate, value
        sigma *= np.exp((float(success) - 0.2) / (0.8 * damping))
        passes.append(spent)
        excess.append(current - problem.loss_star)
        path.append(theta)
    return _trace(passes, excess, target, path if keep_path else None)


def fit(method, problem, tolerance=1e-2, max_passes=100_000, seed=0, keep_path=False):
    """Run one of :data:`METHODS` on ``problem``; returns its :class:`Trace`."""
    if method == "gradient":
        return fit_by_gradient(problem, tolerance, max_passes, keep_path=keep_path)
    if method == "trial":
        return fit_by_trial(problem, tolerance, max_passes, keep_path=keep_path)
    if method == "random":
        return fit_by_random_perturbation(problem, tolerance, max_passes, seed=seed, keep_path=keep_path)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def search_costs(sizes=(2, 4, 8, 16, 32, 64, 128, 256), seeds=(0, 1, 2), tolerance=1e-2, max_passes=200_000):
    """Passes each method needs to cut the excess loss to ``tolerance`` of its start, per size and seed.

    Returns ``{method: array (len(sizes), len(seeds))}`` (NaN where the budget ran out) and, under the key
    ``"sizes"``, the sizes.
    """
    out = {"sizes": np.asarray(sizes)}
    for method in METHODS:
        table = np.full((len(sizes), len(seeds)), np.nan)
        for a, d in enumerate(sizes):
            for b, seed in enumerate(seeds):
                reached = fit(method, least_squares_problem(d, seed), tolerance, max_passes, seed).reached
                table[a, b] = np.nan if reached is None else reached
        out[method] = table
    return out


def growth_exponent(sizes, costs):
    """The slope p of ``log cost = p log size + c`` (least squares over the per-size medians): cost ∝ size^p."""
    sizes = numeric_array(sizes, "sizes")
    costs = np.asarray(costs, dtype=np.float64).reshape(len(sizes), -1)
    costs = np.array([np.nanmedian(row) if np.isfinite(row).any() else np.nan for row in costs])
    keep = np.isfinite(costs)
    if keep.sum() < 2:
        raise ValueError("a growth exponent needs at least two sizes with a finite cost")
    return float(np.polyfit(np.log(sizes[keep]), np.log(costs[keep]), 1)[0])
