"""Figures for notebook 05, routing is clustering: four routing rules on the toy and on MNIST.

Each function takes plain parameters (what a slider sets) and returns a closed matplotlib Figure whose
plotted data tests can read back. The numbers come from :mod:`capsule_lesson.routing` and
:mod:`capsule_lesson.routing_family`; nothing here computes a result of its own.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..routing import route
from ..routing_settings import ROUTINGS
from ..routing_family import FAMILY_METRICS, coupling_changes
from .routing import draw_coupling_heatmap, draw_dual_couplings
from ..toy import cats_and_dogs
from . import PALETTE

ROUTING_COLOURS = dict(zip(ROUTINGS, (PALETTE[0], PALETTE[1], PALETTE[2], "#777777")))
#: Floor for log-scale plots of coupling changes (exact zeros cannot be drawn on a log axis).
LOG_FLOOR = 1e-16


def _options(routing, temperature):
    return {"temperature": temperature} if routing == "kmeans" else {}


def plot_family_couplings(routing="dynamic", routings=3, temperature=1.0, toy=None):
    """The final couplings c_ij of one routing on the toy (heatmap, ``fig.axes[0].images[0]``), and the
    shared part's couplings over the iterations (``fig.axes[1].lines[j]``, one per upper capsule)."""
    toy = cats_and_dogs() if toy is None else toy
    result = route(toy.u_hat, routing, routings=routings, **_options(routing, temperature))
    fig, (ax_c, ax_e) = plt.subplots(1, 2, figsize=(11, 5.0), gridspec_kw=dict(width_ratios=[1, 1.6]))
    draw_coupling_heatmap(ax_c, result.c_history[-1], toy)
    ax_c.set_title(f"couplings after {len(result.c_history)} iteration(s)", fontsize=12)
    draw_dual_couplings(ax_e, result.c_history, toy)
    ax_e.legend(title="upper capsule", fontsize=10, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    detail = f", temperature {temperature:g}" if routing == "kmeans" else ""
    fig.suptitle(f"{routing} routing on the toy{detail}", fontsize=14)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_settling(max_routings=30, temperature=1.0, toy=None):
    """How fast each routing settles: ``max |c(r) - c(r-1)|`` against r (``fig.axes[0].lines``, one per
    routing except uniform, which never changes), and EM's objective per M-step (``fig.axes[1].lines[0]``)."""
    toy = cats_and_dogs() if toy is None else toy
    fig, (ax_c, ax_l) = plt.subplots(1, 2, figsize=(12, 4.4))
    r = np.arange(2, max_routings + 1)
    for routing in ROUTINGS:
        if routing == "uniform":
            continue
        result = route(toy.u_hat, routing, routings=max_routings, **_options(routing, temperature))
        ax_c.plot(r, np.maximum(coupling_changes(result), LOG_FLOOR), marker="o", markersize=3,
                  color=ROUTING_COLOURS[routing], label=routing)
        if routing == "em":
            ax_l.plot(np.arange(1, max_routings), result.log_likelihood, marker="o", markersize=3,
                      color=ROUTING_COLOURS[routing], label="EM objective")
    ax_c.set_yscale("log")
    ax_c.set_xlabel("iteration r")
    ax_c.set_ylabel(r"$\max_{ij} |c_{ij}(r) - c_{ij}(r-1)|$")
    ax_c.set_title("how far the couplings still move")
    ax_c.legend()
    ax_l.set_xlabel("M-step")
    ax_l.set_ylabel("log-likelihood + log-prior")
    ax_l.set_title("EM never goes downhill")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_family_metrics(rows, metrics=("test_accuracy", "stacked_top2", "stacked_exact_set",
                                       "stacked_blank_exactly_one")):
    """One panel per metric: each seed of each routing as a dot, the mean as a bar (``patch.get_height()``).

    ``rows``: :func:`capsule_lesson.routing_family.family_rows`.
    """
    labels = dict(FAMILY_METRICS)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for k, (routing, group) in enumerate(rows.items()):
            vals = 100 * np.array([r[metric] for r in group], dtype=float)
            if vals.size:
                ax.bar(k, vals.mean(), color=ROUTING_COLOURS[routing], alpha=0.45, width=0.7)
                ax.plot(np.full(vals.size, k), vals, "o", color=ROUTING_COLOURS[routing], markersize=5)
        ax.set_xticks(range(len(rows)), list(rows), rotation=30)
        ax.set_title(labels.get(metric, metric), fontsize=12)
        ax.set_ylim(*((98, 100) if metric == "test_accuracy" else (0, 100)))
    axes[0][0].set_ylabel("% (dots: seeds, bars: mean)")
    fig.tight_layout()
    plt.close(fig)
    return fig
