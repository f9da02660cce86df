"""Figures for notebook 02 (appetiser 2): aggregating points by ``x <- sum_i softmax_i(scale <x, x_i>) x_i``.

The iteration always comes from the tested package functions :func:`capsule_lesson.softmax_aggregate` and
:func:`capsule_lesson.aggregation_weights`; this module only makes point clouds, measures and draws.
Every plotting function returns a closed matplotlib Figure (and, where useful, the numbers it drew).
"""

import matplotlib.pyplot as plt
import numpy as np

from ..appetisers import aggregation_weights, critical_scale, make_cloud, softmax_aggregate, steps_to_converge
from . import PALETTE


#: Colours for the clusters (the first four palette colours are kept for the markers of x).
CLUSTER_COLOURS = (PALETTE[5], PALETTE[4], PALETTE[6], "0.55", PALETTE[0], PALETTE[1])


def _cluster_colours(n, labels):
    if labels is None:
        return [CLUSTER_COLOURS[0]] * n
    return [CLUSTER_COLOURS[k % len(CLUSTER_COLOURS)] for k in labels]


def _scatter_cloud(ax, points, weights, labels=None):
    sizes = 8 + 1500 * weights
    colours = _cluster_colours(len(points), labels)
    return ax.scatter(points[:, 0], points[:, 1], s=sizes, c=colours, alpha=0.55, edgecolors="0.3",
                      linewidths=0.5, label="points $x_i$ (area ∝ final weight)")


def _mark_origin(ax):
    ax.plot([0], [0], marker="+", ms=14, mew=2, color="k", ls="none", label="origin")


def plot_aggregation(n_clusters=3, spread=0.4, seed=0, iterations=5, scale=1.0, n_points=60):
    """The iteration on one cloud: left, the path of x over the points (sized by their final weights);
    right, how far x still moves at each step (log scale).

    Returns the Figure (so a widget can show it). Left axis: line 0 is the path of x, shape
    ``(iterations + 1,)`` per coordinate; line 1 the mean (mean pooling = step 0); line 2 one-step attention
    (step 1); line 3 the last x. Right axis: line 0 the distance moved at each step.
    """
    points, labels, _ = make_cloud(n_clusters, spread, seed, n_points)
    xs = softmax_aggregate(points, iterations, scale)
    weights = aggregation_weights(xs[-1], points, scale)

    fig, (ax, ax_move) = plt.subplots(1, 2, figsize=(12.5, 5.2), gridspec_kw={"width_ratios": [1.35, 1]})
    ax.plot(xs[:, 0], xs[:, 1], color=PALETTE[3], marker="o", ms=4, lw=1.8, label="path of x", zorder=4)
    ax.plot(*xs[0], marker="s", ms=11, color=PALETTE[0], ls="none", label="mean pooling (step 0)", zorder=5)
    one = xs[min(1, iterations)]
    ax.plot(*one, marker="D", ms=10, color=PALETTE[1], ls="none", label="one-step attention (step 1)", zorder=5)
    ax.plot(*xs[-1], marker="*", ms=20, color=PALETTE[2], mec="k", ls="none", label=f"after {iterations} steps",
            zorder=6)
    _mark_origin(ax)
    _scatter_cloud(ax, points, weights, labels)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$x^{(1)}$")
    ax.set_ylabel("$x^{(2)}$")
    ax.set_title(f"scale = {scale:g}, {n_clusters} cluster{'s' if n_clusters != 1 else ''}, spread = {spread:g}")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.17), ncol=2, fontsize=10)

    moves = np.linalg.norm(np.diff(xs, axis=0), axis=1)
    if iterations:
        ax_move.semilogy(np.arange(1, iterations + 1), np.maximum(moves, 1e-16), marker="o", color=PALETTE[3])
    ax_move.set_xlabel("step n")
    ax_move.set_ylabel(r"$\|x_n - x_{n-1}\|$ (log)")
    ax_move.set_title("how far x still moves")
    ax_move.set_xlim(0.5, max(iterations, 1) + 0.5)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_scale_sweep(points, scales, iterations=100, labels=None):
    """Where the iteration ends for each scale (one cloud). Returns ``(fig, finals)``, ``finals`` of shape
    ``(len(scales), 2)``; the first scatter collection of the axis holds the end points."""
    scales = np.asarray(scales, dtype=np.float64)
    finals = np.stack([softmax_aggregate(points, iterations, s)[-1] for s in scales])
    fig, ax = plt.subplots(figsize=(7.5, 6))
    sc = ax.scatter(finals[:, 0], finals[:, 1], c=np.log10(scales), cmap="cividis", s=70, edgecolors="k",
                    zorder=4)
    fig.colorbar(sc, ax=ax, label=r"$\log_{10}$ scale")
    ax.scatter(points[:, 0], points[:, 1], s=18, alpha=0.5,
               c=_cluster_colours(len(points), labels), zorder=2)
    ax.plot(*points.mean(axis=0), marker="s", ms=11, color=PALETTE[0], ls="none", label="mean", zorder=5)
    _mark_origin(ax)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$x^{(1)}$")
    ax.set_ylabel("$x^{(2)}$")
    ax.set_title(f"end point after {iterations} steps, per scale")
    ax.legend(loc="best", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig, finals


def plot_steps_vs_scale(scales, spreads=(0.2, 0.5, 1.0), n_clusters=3, seed=0, tol=1e-6, max_iterations=300):
    """Steps to converge against scale, one line per cluster spread (same centres and seed).

    Dashed vertical lines: :func:`critical_scale` of each cloud. Returns ``(fig, steps)`` with ``steps`` of
    shape ``(len(spreads), len(scales))``.
    """
    scales = np.asarray(scales, dtype=np.float64)
    clouds = [make_cloud(n_clusters, sp, seed)[0] for sp in spreads]
    steps = np.array([[steps_to_converge(pts, s, tol, max_iterations) for s in scales] for pts in clouds])
    fig, ax = plt.subplots(figsize=(9, 4.6))
    for k, (sp, pts) in enumerate(zip(spreads, clouds)):
        ax.plot(scales, steps[k], marker="o", ms=4, color=PALETTE[k % 8], label=f"spread = {sp:g}")
        ax.axvline(critical_scale(pts), color=PALETTE[k % 8], ls="--", lw=1.2)
    ax.axhline(max_iterations, color="0.4", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scale")
    ax.set_ylabel(f"steps until a step moves < {tol:g}")
    ax.set_title(f"{n_clusters} clusters, seed {seed}")
    ax.legend(loc="upper left", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig, steps


def plot_inner_product_vs_distance(points, iterations, scale, distance_path, labels=None):
    """Side by side: the inner-product iteration (package) and a distance-kernel path computed by the notebook.

    ``distance_path``: the trajectory, shape ``(iterations + 1, 2)``, of the distance-based version. Returns
    the Figure; on each axis line 0 is the path.
    """
    paths = {"inner product  $\\langle x, x_i\\rangle$": softmax_aggregate(points, iterations, scale),
             "distance  $-\\|x - x_i\\|^2/2$": np.asarray(distance_path)}
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 5.6), sharex=True, sharey=True)
    for ax, (name, xs) in zip(axes, paths.items()):
        ax.plot(xs[:, 0], xs[:, 1], color=PALETTE[3], marker="o", ms=4, lw=1.8, label="path of x", zorder=4)
        ax.plot(*xs[-1], marker="*", ms=20, color=PALETTE[2], mec="k", ls="none", label="end", zorder=6)
        ax.plot(*xs[0], marker="s", ms=10, color=PALETTE[0], ls="none", label="mean (start)", zorder=5)
        _mark_origin(ax)
        ax.scatter(points[:, 0], points[:, 1], s=22, alpha=0.55, edgecolors="0.3", linewidths=0.4,
                   c=_cluster_colours(len(points), labels), zorder=2)
        ax.set_title(f"similarity: {name}", fontsize=13)
        ax.set_xlabel("$x^{(1)}$")
        ax.set_aspect("equal", adjustable="box")
    axes[0].set_ylabel("$x^{(2)}$")
    axes[0].legend(loc="best", fontsize=10)
    fig.suptitle(f"scale = {scale:g}, {iterations} steps", y=1.0)
    fig.tight_layout()
    plt.close(fig)
    return fig
