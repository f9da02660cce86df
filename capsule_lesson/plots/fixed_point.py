"""Figures for notebook 01 (appetiser 1): inverting ``x = y + cos(y)`` by the iteration ``y <- x - cos(y)``.

Every function takes plain parameters and returns a matplotlib Figure (closed, so notebooks show it with
``display`` or through a widget), sometimes with the numbers it plotted. The iteration itself always comes
from the tested package function :func:`capsule_lesson.fixed_point_inverse`; the true inverse from
:func:`capsule_lesson.inverse_by_bisection`.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..appetisers import fixed_point_inverse, inverse_by_bisection, steps_to_tolerance
from . import PALETTE

#: Errors below this are at the accuracy of the bisection reference, not a property of the iteration.
ERROR_FLOOR = 1e-11


def plot_fixed_point(x=0.5, iterations=5):
    """Two panels for one x: the cobweb of ``y <- x - cos(y)`` and the error per step on a log scale.

    Right panel, line 0: the measured error ``|y_n - y*|`` (n = 0..iterations); line 1: the prediction
    ``|e_0| |sin y*|^n``. Left panel, line 0: the map ``g(y) = x - cos(y)``; line 1: the diagonal; line 2: the
    cobweb path.
    """
    ys = fixed_point_inverse(x, iterations)
    y_star = float(inverse_by_bisection(x))
    err = np.maximum(np.abs(ys - y_star), ERROR_FLOOR)
    rate = abs(np.sin(y_star))

    fig, (ax_web, ax_err) = plt.subplots(1, 2, figsize=(12, 4.6))
    lo = min(ys.min(), y_star) - 0.8
    hi = max(ys.max(), y_star) + 0.8
    grid = np.linspace(lo, hi, 400)
    ax_web.plot(grid, x - np.cos(grid), color=PALETTE[0], label=r"$g(y) = x - \cos y$")
    ax_web.plot(grid, grid, color="0.4", lw=1.2, ls="--", label="$y$ (diagonal)")
    # cobweb: (y0, y0) -> (y0, y1) -> (y1, y1) -> (y1, y2) ...
    web_x, web_y = [ys[0]], [ys[0]]
    for n in range(iterations):
        web_x += [ys[n], ys[n + 1]]
        web_y += [ys[n + 1], ys[n + 1]]
    ax_web.plot(web_x, web_y, color=PALETTE[3], lw=1.6, marker="o", ms=3.5, label="iterates")
    ax_web.plot([y_star], [y_star], marker="*", ms=16, color=PALETTE[2], ls="none", label=r"fixed point $y^*$")
    ax_web.set_xlabel("$y_n$")
    ax_web.set_ylabel("$y_{n+1}$")
    ax_web.set_title(f"cobweb, x = {x:.2f}")
    ax_web.legend(loc="upper left", fontsize=10)

    n = np.arange(iterations + 1)
    ax_err.semilogy(n, err, marker="o", color=PALETTE[3], label=r"measured $|y_n - y^*|$")
    ax_err.semilogy(n, np.maximum(err[0] * rate ** n, ERROR_FLOOR), ls="--", color=PALETTE[0],
                    label=rf"$|e_0|\,|\sin y^*|^n$,  $|\sin y^*|$ = {rate:.3f}")
    ax_err.set_xlabel("step n")
    ax_err.set_ylabel("error (log scale)")
    ax_err.set_ylim(ERROR_FLOOR / 3, 10)
    ax_err.set_title(f"y* = {y_star:.4f}")
    ax_err.legend(loc="lower left", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_trajectories(xs=(-2.0, 0.0, 1.0, 2.0, 3.0), iterations=10):
    """``y_n`` against n for several x (solid), with the true inverse of each (dotted). Lines 2k, 2k+1 = x_k."""
    xs = np.asarray(xs, dtype=np.float64)
    ys = fixed_point_inverse(xs, iterations)
    truth = inverse_by_bisection(xs)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    n = np.arange(iterations + 1)
    for k, x in enumerate(xs):
        colour = PALETTE[k % len(PALETTE)]
        ax.plot(n, ys[:, k], marker="o", ms=4, color=colour, label=f"x = {x:g}")
        ax.axhline(truth[k], color=colour, ls=":", lw=1.4)
    ax.set_xlabel("step n")
    ax.set_ylabel(r"$y_n$")
    ax.set_title(r"$y_{n+1} = x - \cos y_n$ from $y_0 = x$ (dotted: true inverse)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_speed_map(x_min=-7.0, x_max=8.0, tol=1e-6, max_iterations=500, num=1501):
    """Top: the inverse y*(x); bottom: steps needed to reach ``tol`` against x (line 0 of the bottom axis).

    Returns ``(fig, (x, y_star, steps))``. Shaded bands mark where ``|sin y*| > 0.95``; dotted lines the x with
    ``sin y* = +1``.
    """
    x = np.linspace(x_min, x_max, num)
    y_star = inverse_by_bisection(x)
    steps = steps_to_tolerance(x, tol, max_iterations)
    slow = np.abs(np.sin(y_star)) > 0.95

    fig, (ax_y, ax_n) = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True)
    ax_y.plot(x, y_star, color=PALETTE[0], label=r"$y^*(x)$, the inverse of $x = y + \cos y$")
    ax_n.plot(x, steps, color=PALETTE[3], label=f"steps to reach error < {tol:g}")
    for ax in (ax_y, ax_n):
        ax.fill_between(x, 0, 1, where=slow, color=PALETTE[1], alpha=0.25, lw=0,
                        transform=ax.get_xaxis_transform(), label=r"$|\sin y^*| > 0.95$")
    # sin y* = +1 at y* = pi/2 + 2 pi n, where x = y* too: too narrow in x to shade, so mark them by lines
    creep = np.pi / 2 + 2 * np.pi * np.arange(np.ceil((x_min - np.pi / 2) / (2 * np.pi)),
                                               np.floor((x_max - np.pi / 2) / (2 * np.pi)) + 1)
    for k, xc in enumerate(creep):
        for ax in (ax_y, ax_n):
            ax.axvline(xc, color=PALETTE[4], ls=":", lw=1.6,
                       label=r"$\sin y^* = +1$" if (k == 0 and ax is ax_n) else None)
    ax_y.set_ylabel("$y^*$")
    ax_y.legend(loc="upper left", fontsize=10)
    ax_n.set_yscale("log")
    ax_n.set_ylabel("steps (log)")
    ax_n.set_xlabel("x")
    ax_n.axhline(max_iterations + 1, color="0.4", ls=":", lw=1)
    ax_n.text(x_min, max_iterations * 1.15, f"cap: {max_iterations} steps", fontsize=10, va="bottom")
    ax_n.set_ylim(0.8, max_iterations * 3)
    ax_n.legend(loc="lower right", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig, (x, y_star, steps)


def plot_unrolled_gradients(x, derivatives, implicit):
    """The derivative of the unrolled network against x, one line per number of steps, and the implicit one.

    ``derivatives``: mapping ``steps -> array like x``; ``implicit``: ``1 / (1 - sin y*)`` on the same x.
    Lines, in order: one per entry of ``derivatives``, then the implicit derivative (last line).
    """
    fig, ax = plt.subplots(figsize=(9, 4.6))
    for k, (steps, d) in enumerate(derivatives.items()):
        ax.plot(x, d, color=PALETTE[(k + 1) % len(PALETTE)], lw=1.6,
                label=f"{steps} unrolled step{'s' if steps != 1 else ''}")
    ax.plot(x, implicit, color="k", ls="--", lw=2, label=r"implicit: $1/(1 - \sin y^*)$")
    ax.set_ylim(0, 6)
    ax.set_xlabel("x")
    ax.set_ylabel("dy/dx")
    ax.set_title("gradient through the unrolled iteration")
    ax.legend(loc="upper left", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig
