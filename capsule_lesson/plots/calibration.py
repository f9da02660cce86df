"""Figures for notebook 14, does the capsule know what it sees? Each function draws numbers computed by
:mod:`capsule_lesson.calibration` (or a model's scores) and returns a closed Figure whose data tests can read.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..calibration import BAR, METRICS
from . import MODEL_COLOURS, MODEL_LABELS, PALETTE


def plot_score_bars(scores, present, title="", threshold=0.5):
    """Grouped bars: each model's 10 class scores on one image (``scores``: ``{model: (10,)}``), the classes
    in ``present`` marked on the axis, the threshold as a dashed line. ``ax.containers[k]``: model k's bars."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(len(scores), 1)
    for k, (name, values) in enumerate(scores.items()):
        ax.bar(np.arange(10) + (k - (len(scores) - 1) / 2) * width, values, width,
               color=MODEL_COLOURS.get(name, PALETTE[k]), label=MODEL_LABELS.get(name, name))
    ax.axhline(threshold, color="0.3", linestyle="--", linewidth=1.2)
    ax.set_xticks(range(10), [f"{d}\n(present)" if d in present else str(d) for d in range(10)])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=13)
    ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_canvas_growth(growth):
    """One digit on a growing blank canvas: the absent classes' mean length (left) and the classes above 0.5
    (right) against the number of pixel capsules, one line per model. ``growth``: ``{model:
    lengths_on_growing_canvas(...)}``; ``fig.axes[i].lines[k]``: model k."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    for k, (name, by_tiles) in enumerate(growth.items()):
        count = [v["capsules"] for v in by_tiles.values()]
        style = dict(marker="o", color=MODEL_COLOURS.get(name, PALETTE[k]), label=MODEL_LABELS.get(name, name))
        axes[0].plot(count, [v["absent"] for v in by_tiles.values()], **style)
        axes[1].plot(count, [v["above"] for v in by_tiles.values()], **style)
    axes[0].set_ylabel("mean length of the 9 absent classes")
    axes[1].set_ylabel("classes above 0.5")
    axes[0].set_ylim(0, 1)
    axes[1].set_ylim(0, 10.5)
    for ax in axes:
        ax.set_xlabel("pixel capsules (one digit + blank tiles)")
    axes[1].legend(fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_variants(rows, metrics=("stacked_exact_set", "side_exact_set", "stacked_blank_exactly_one",
                                 "side_blank_exactly_one")):
    """One panel per metric: each seed of each variant as a dot, the mean as a bar (``ax.patches``), the
    bar of the issue as a dashed line where it has one. ``rows``: :func:`capsule_lesson.calibration.variant_rows`."""
    labels = dict(METRICS)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 4.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for k, group in enumerate(rows.values()):
            vals = 100 * np.array([r[metric] for r in group], dtype=float)
            if vals.size:
                ax.bar(k, vals.mean(), color=PALETTE[k % len(PALETTE)], alpha=0.45, width=0.7)
                ax.plot(np.full(vals.size, k), vals, "o", color=PALETTE[k % len(PALETTE)], markersize=5)
        if metric in BAR:
            ax.axhline(100 * BAR[metric], color="0.3", linestyle="--", linewidth=1.2)
        ax.set_xticks(range(len(rows)), list(rows), rotation=55, ha="right", fontsize=10)
        ax.set_title(labels.get(metric, metric), fontsize=12)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("% (dots: seeds, bars: mean)")
    fig.tight_layout()
    plt.close(fig)
    return fig
