"""Figures for notebook 04, dynamic routing (the article's 上主菜).

Every function takes plain parameters (what a slider sets) and returns a closed matplotlib Figure
whose plotted data tests can read back (``fig.axes[k].lines``, ``.collections``, ``.images``).
"""

import matplotlib.pyplot as plt
import numpy as np

from ..routing import dynamic_routing
from ..routing_family import rule_curves
from ..toy import cats_and_dogs
from . import PALETTE

GREY = "#999999"
UPDATE_STYLES = {"replace": dict(color=PALETTE[0], linestyle="-", marker="o"),
                 "accumulate": dict(color=PALETTE[3], linestyle="--", marker="s")}
#: Floor for log-scale plots of ||v_r - v_{r-1}|| (exact zeros cannot be drawn on a log axis).
LOG_FLOOR = 1e-16


def _toy(toy):
    return cats_and_dogs() if toy is None else toy


def _finish(fig):
    plt.close(fig)
    return fig


def plot_predictions(toy=None, result=None, title=None):
    """One panel per upper capsule j: the predictions û_{j|i} of every lower capsule i.

    Parts of object j are coloured, predictions that belong nowhere are grey, the dual-membership
    capsule is a star. With a routing ``result``, marker areas follow the final couplings c_ij and a
    black arrow shows v_j (drawn as a line from the origin, ``ax.lines[0]``; the dotted line
    ``ax.lines[1]`` extends its direction).
    """
    toy = _toy(toy)
    u_hat = toy.u_hat
    n_in, n_out, _ = u_hat.shape
    reach = 1.15 * np.max(np.abs(u_hat))
    fig, axes = plt.subplots(1, n_out, figsize=(4.2 * n_out, 4.4), squeeze=False)
    c_final = None if result is None else result.c_history[-1]
    for j, ax in enumerate(axes[0]):
        if result is not None:
            v = result.v[j]
            norm = np.linalg.norm(v)
            ax.plot([0, v[0]], [0, v[1]], color="black", linewidth=4, solid_capstyle="round",
                    label=r"$v_j$", zorder=4)
            ray = v / norm * reach * 1.5 if norm > 0 else np.zeros(2)
            ax.plot([0, ray[0]], [0, ray[1]], color="black", linestyle=":", linewidth=1.2, zorder=1)
            ax.set_title(f"{toy.upper_names[j]}:  $\\|v_j\\|$ = {norm:.2f}")
        else:
            ax.set_title(f"predictions for '{toy.upper_names[j]}'")
        for kind in ("member", "stray", "dual"):
            if kind == "dual":
                rows = np.array([toy.dual])
            else:
                rows = np.array([i for i in range(n_in) if i != toy.dual
                                 and bool(toy.members[i, j]) == (kind == "member")])
            sizes = (np.full(len(rows), 80.0) if c_final is None
                     else 20.0 + 400.0 * c_final[rows, j])
            if kind == "dual":
                sizes = 2.5 * sizes                    # a star looks smaller than a disc of equal area
            style = {"member": dict(color=PALETTE[j % len(PALETTE)], marker="o",
                                    label=f"parts of {toy.upper_names[j]}"),
                     "stray": dict(color=GREY, marker="o", label="other parts"),
                     "dual": dict(color=PALETTE[4] if toy.members[toy.dual, j] else GREY, marker="*",
                                  label=toy.lower_names[toy.dual])}[kind]
            ax.scatter(u_hat[rows, j, 0], u_hat[rows, j, 1], s=sizes, edgecolor="black",
                       linewidth=0.6, alpha=0.9, zorder=3, **style)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.set_xlabel("component 1")
        if j == 0:
            ax.set_ylabel("component 2")
    axes[0, 0].legend(loc="lower left", fontsize=9, framealpha=0.9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig)


def plot_clusters(routings=3, update="replace", squash="su", toy=None):
    """Route the toy problem, then draw predictions, couplings (marker areas) and outputs v_j."""
    toy = _toy(toy)
    result = dynamic_routing(toy.u_hat, routings=routings, update=update, squash=squash)
    return plot_predictions(toy, result, title=f"{routings} routing(s), '{update}' rule, squash '{squash}'")


def _shown_iterations(routings, max_panels):
    """Evenly spread iteration indices (0-based), always including the first and the last."""
    if routings <= max_panels:
        return list(range(routings))
    return sorted(set(np.linspace(0, routings - 1, max_panels).round().astype(int).tolist()))


def draw_coupling_heatmap(ax, c, toy, row_labels=True, fontsize=9):
    """Couplings ``c`` ``(n_in, n_out)`` as a heatmap with their values, the shared part's row marked."""
    n_in, n_out = c.shape
    ax.imshow(c, vmin=0, vmax=1, cmap="Blues", aspect="auto")
    for i in range(n_in):
        for j in range(n_out):
            ax.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize=fontsize,
                    color="white" if c[i, j] > 0.6 else "black")
    ax.set_xticks(range(n_out), toy.upper_names, fontsize=10)
    ax.set_yticks(range(n_in), toy.lower_names if row_labels else [""] * n_in, fontsize=10)
    ax.grid(False)
    ax.axhline(toy.dual - 0.5, color=PALETTE[4], linewidth=2)


def draw_dual_couplings(ax, c_history, toy):
    """The shared part's couplings ``c_history[:, dual, j]`` over the iterations, one line per upper capsule."""
    iterations = np.arange(1, len(c_history) + 1)
    for j in range(c_history.shape[-1]):
        ax.plot(iterations, c_history[:, toy.dual, j], marker="o", markersize=4,
                color=PALETTE[j % len(PALETTE)], label=toy.upper_names[j])
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"coupling of '{toy.lower_names[toy.dual]}'")


def plot_couplings(routings=3, update="replace", squash="su", toy=None, max_panels=4):
    """Heatmaps of c_ij at some iterations, then the dual capsule's couplings per iteration.

    ``fig.axes[k].images[0].get_array()`` is the coupling matrix of the k-th heatmap; the last
    axes holds one line per upper capsule (x: iteration 1..routings, y: c_{dual, j}).
    """
    toy = _toy(toy)
    result = dynamic_routing(toy.u_hat, routings=routings, update=update, squash=squash)
    shown = _shown_iterations(routings, max_panels)
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(2.6 * len(shown) + 5.0, 5.2),
                             gridspec_kw=dict(width_ratios=[1] * len(shown) + [2.2]))
    for ax, r in zip(axes[:-1], shown):
        draw_coupling_heatmap(ax, result.c_history[r], toy, row_labels=ax is axes[0], fontsize=8)
        ax.set_title(f"iteration {r + 1}", fontsize=12)
    axes[0].set_ylabel("lower capsule i")
    draw_dual_couplings(axes[-1], result.c_history, toy)
    axes[-1].set_title(f"'{toy.lower_names[toy.dual]}' over the iterations", fontsize=12)
    axes[-1].legend(title="upper capsule", fontsize=10)
    fig.suptitle(f"couplings $c_{{ij}}$: '{update}' rule, squash '{squash}'", fontsize=14)
    fig.tight_layout()
    return _finish(fig)


def plot_rule_comparison(max_routings=30, squash="su", scale=1.0, toy=None):
    """Entropy of the couplings and ||v_r - v_{r-1}|| against r, for both update rules.

    ``scale`` multiplies every prediction (longer predictions = larger logits = sharper softmax).
    ``fig.axes[0].lines[k]`` / ``fig.axes[1].lines[k]``: k = 0 replace, k = 1 accumulate.
    """
    toy = _toy(toy)
    curves = rule_curves(scale * toy.u_hat, max_routings=max_routings, squash=squash)
    r = np.arange(1, max_routings + 1)
    fig, (ax_h, ax_d) = plt.subplots(1, 2, figsize=(12, 4.4))
    for update, (entropy, change) in curves.items():
        style = UPDATE_STYLES[update]
        ax_h.plot(r, entropy, markersize=4, label=update, **style)
        ax_d.plot(r[1:], np.maximum(change[1:], LOG_FLOOR), markersize=4, label=update, **style)
    n_out = toy.u_hat.shape[1]
    ax_h.axhline(np.log(n_out), color=GREY, linewidth=1, linestyle=":", label=f"uniform: ln {n_out}")
    ax_h.set_ylim(-0.03, np.log(n_out) * 1.05)
    ax_h.set_xlabel("routings r")
    ax_h.set_ylabel("mean coupling entropy (nats)")
    ax_h.set_title("how soft is the clustering?")
    ax_h.legend()
    ax_d.set_yscale("log")
    ax_d.set_xlabel("routings r")
    ax_d.set_ylabel(r"$\|v_r - v_{r-1}\|$")
    ax_d.set_title("has the output settled?")
    ax_d.legend()
    fig.suptitle(f"replace vs accumulate: squash '{squash}', predictions x{scale:g}")
    fig.tight_layout()
    return _finish(fig)
