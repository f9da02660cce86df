"""Figures for notebook 06, the capsule layer (the article's 全连接版 and 共享版).

Every function takes plain parameters (what a slider sets) and returns a closed matplotlib Figure
whose plotted data tests can read back (``fig.axes[k].lines``, ``.images``, ``.collections``).
"""

import matplotlib.patheffects as path_effects
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ..inspection import DEFAULT_N_IN, layer_parameter_count, mean_couplings, parameter_counts  # noqa: F401
from . import PALETTE

#: Capsule counts of the article's MNIST trunk (an h x w image gives ((h - 4) // 2 - 4) * ((w - 4) // 2 - 4)).
MNIST_MARKS = (("28×28 digit", 64), ("pair, 56×28 or 28×56", 176))

SHARE_STYLES = {True: dict(color=PALETTE[0], marker="o", linestyle="-", label=r"shared $W_j$ (eq. 5)"),
                False: dict(color=PALETTE[3], marker="s", linestyle="--",
                            label=r"fully connected $W_{ji}$ (eq. 4)")}


def _finish(fig):
    plt.close(fig)
    return fig


def plot_weight_sharing(n_in=6, num_capsule=3):
    """Which matrix turns input capsule i into its prediction for output capsule j.

    Two panels, rows = input capsules i, columns = output capsules j; each cell is coloured by the
    index of the matrix it uses. Fully connected: ``n_in * num_capsule`` different matrices W_ji;
    shared: one matrix W_j per column. ``fig.axes[k].images[0].get_array()`` holds the indices.
    """
    fully_connected = np.arange(n_in * num_capsule).reshape(n_in, num_capsule)
    shared = np.tile(np.arange(num_capsule), (n_in, 1))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 1.4 + 0.45 * n_in + 1.6), sharey=True)
    annotate = n_in * num_capsule <= 60
    panels = ((axes[0], fully_connected, "fully connected (eq. 4)", r"$W_{{{j}{i}}}$"),   # W_ji: output j, input i
              (axes[1], shared, "shared (eq. 5)", r"$W_{{{j}}}$"))
    column_colours = ListedColormap([PALETTE[j % (len(PALETTE) - 1)] for j in range(num_capsule)])
    outline = [path_effects.withStroke(linewidth=2.5, foreground="black")]
    for ax, index, title, fmt in panels:
        n_matrices = len(np.unique(index))
        if index is fully_connected:
            ax.imshow(index, cmap="viridis", vmin=0, vmax=max(index.max(), 1), aspect="auto")
        else:                                               # one Okabe-Ito colour per W_j
            ax.imshow(index, cmap=column_colours, vmin=-0.5, vmax=num_capsule - 0.5, aspect="auto")
        if annotate:
            for i in range(n_in):
                for j in range(num_capsule):
                    ax.text(j, i, fmt.format(i=i + 1, j=j + 1), ha="center", va="center",
                            fontsize=11, color="white", path_effects=outline)
        ax.set_title(f"{title}\n{n_matrices} different matrices", fontsize=13)
        ax.set_xticks(range(num_capsule), [str(j + 1) for j in range(num_capsule)])
        ax.set_xlabel("output capsule j")
        ax.grid(False)
    axes[0].set_yticks(range(n_in), [str(i + 1) for i in range(n_in)])
    axes[0].set_ylabel("input capsule i")
    fig.suptitle(r"which matrix makes the prediction $\hat u_{j|i}$", fontsize=14)
    fig.tight_layout()
    return _finish(fig)


def plot_parameter_counts(n_in=176, input_dim=128, num_capsule=10, dim_capsule=16,
                          n_in_values=DEFAULT_N_IN, marks=MNIST_MARKS):
    """Parameter count of the shared and the fully connected layer against the number of input capsules.

    Counts come from real ``Capsule`` layers (:func:`parameter_counts`). ``fig.axes[0].lines[0]`` is the
    shared curve, ``lines[1]`` the fully connected one, ``lines[2]`` the vertical marker at ``n_in``;
    ``marks`` (label, n) pairs are drawn as labelled points on the fully connected curve.
    """
    n_in_values = np.asarray(n_in_values)
    counts = parameter_counts(tuple(int(n) for n in n_in_values), input_dim, num_capsule, dim_capsule)
    at_n = {share: layer_parameter_count(n_in, input_dim, num_capsule, dim_capsule, share)
            for share in (True, False)}
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    for share in (True, False):
        ax.plot(n_in_values, counts[share], **SHARE_STYLES[share])
    ax.axvline(n_in, color="black", linestyle=":", linewidth=1.5,
               label=f"n_in = {n_in}: {at_n[True]:,} vs {at_n[False]:,}")
    for k, (name, n) in enumerate(marks):
        fc = layer_parameter_count(n, input_dim, num_capsule, dim_capsule, False)
        ax.scatter([n], [fc], s=90, color=PALETTE[2 + 2 * k], edgecolor="black", zorder=5,
                   label=f"MNIST trunk, {name}: {n} capsules")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("number of input capsules n_in")
    ax.set_ylabel("trainable parameters")
    ax.set_title(f"Capsule layer: {input_dim}-d inputs → {num_capsule} capsules × {dim_capsule} dims")
    ax.legend(loc="upper left", fontsize=10)
    fig.tight_layout()
    return _finish(fig)


def plot_couplings_before_after(u_hat_before, u_hat_after, labels, label=0, routings=3, groups=None,
                                class_names=None):
    """Mean couplings c_ij for the samples of one class, before and after training (two heatmaps).

    ``fig.axes[0].images[0].get_array()`` is the "before" matrix (n_in x n_out), ``fig.axes[1]`` the
    "after" one. ``groups[i]``, if given, is the class input capsule i is a part of: the rows are
    labelled with it and the parts of the shown class are framed.
    """
    before = mean_couplings(u_hat_before, labels, label, routings)
    after = mean_couplings(u_hat_after, labels, label, routings)
    n_in, n_out = before.shape
    names = list(class_names) if class_names is not None else [str(j) for j in range(n_out)]
    top = max(before.max(), after.max())
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 1.6 + 0.42 * n_in + 1.2), sharey=True)
    for ax, c, title in ((axes[0], before, "before training"), (axes[1], after, "after training")):
        ax.imshow(c, vmin=0, vmax=top, cmap="Blues", aspect="auto")
        for i in range(n_in):
            for j in range(n_out):
                ax.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize=10,
                        color="white" if c[i, j] > 0.6 * top else "black")
        if groups is not None:
            rows = np.flatnonzero(np.asarray(groups) == label)
            if len(rows):
                ax.add_patch(plt.Rectangle((label - 0.5, rows.min() - 0.5), 1, len(rows), fill=False,
                                           edgecolor=PALETTE[3], linewidth=3))
        ax.set_title(title, fontsize=13)
        ax.set_xticks(range(n_out), names)
        ax.set_xlabel("output capsule j")
        ax.grid(False)
    if groups is not None:
        axes[0].set_yticks(range(n_in), [f"{i + 1} (part of {names[g]})" for i, g in enumerate(groups)],
                           fontsize=10)
    else:
        axes[0].set_yticks(range(n_in), [str(i + 1) for i in range(n_in)])
    axes[0].set_ylabel("input capsule i")
    fig.suptitle(f"mean couplings $c_{{ij}}$ on samples of class {names[label]}, {routings} routing"
                 f"{'s' if routings != 1 else ''}", fontsize=14)
    fig.tight_layout()
    return _finish(fig)
