"""Figures for notebook 03 ("concentrated juice": the squash function, the article's 浓缩果汁).

Every curve here is measured on :func:`capsule_lesson.squash` itself: we squash vectors of known
length and read off the length of the result, so the pictures show the tested package function, not
a copy of its formula.

Plain functions (parameters -> closed matplotlib Figure); the plotted numbers are the figure's line
data, e.g. ``fig.axes[0].lines[0].get_ydata()``.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..squash import (SQUASH_CONSTANTS, SQUASH_VARIANTS, effective_k, fixed_point_roots, output_norm,
                      output_norm_slope, squash)
from . import PALETTE

#: One fixed colour per variant, so every figure of the notebook uses the same legend colours.
VARIANT_COLOURS = dict(zip(SQUASH_VARIANTS, PALETTE))


def _label(variant, k):
    k = effective_k(variant, k if k is not None else SQUASH_CONSTANTS.get(variant))
    return variant if k is None else f"{variant} (k={k:g})"


def plot_norm_curves(variants=SQUASH_VARIANTS, ks=None, r_max=4.0, r_min=0.0, n=401, loglog=False):
    """Output norm (left) and its slope (right) against input norm, one line per variant.

    ``ks`` maps a variant to its constant (defaults: ``SQUASH_CONSTANTS``). With ``loglog=True`` the
    axes are logarithmic (use ``r_min > 0``): a power law r^p shows up as a straight line of slope p.
    """
    ks = dict(SQUASH_CONSTANTS, **(ks or {}))
    if loglog:
        if not r_min > 0:
            raise ValueError("loglog=True needs r_min > 0")
        r = np.geomspace(r_min, r_max, n)
    else:
        r = np.linspace(r_min, r_max, n)
    fig, (ax_norm, ax_slope) = plt.subplots(1, 2, figsize=(12, 4.6))
    for v in variants:
        k = ks.get(v)
        style = dict(color=VARIANT_COLOURS[v], label=_label(v, k),
                     linestyle=":" if v == "none" else "-")
        ax_norm.plot(r, output_norm(v, r, k), **style)
        ax_slope.plot(r, output_norm_slope(v, r, k), **style)
    ax_norm.set(xlabel="input norm ||x||", ylabel="output norm ||squash(x)||",
                title="How long is the squashed vector?")
    ax_slope.set(xlabel="input norm ||x||", ylabel="d output norm / d input norm",
                 title="Slope of that curve")
    if loglog:
        for ax in (ax_norm, ax_slope):
            ax.set_xscale("log")
            ax.set_yscale("log")
    else:
        ax_norm.set_ylim(0, min(r_max, 1.6))
        ax_slope.set_ylim(0, 1.15)
    ax_norm.legend(loc="upper left" if loglog else "lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_fixed_points(ks=(0.1, 0.25, 0.5, 1.0), r_max=1.5, n=301):
    """Output norm of ``squash(x, "hinton", k=k)`` for several k, with the diagonal output = input.

    Where a curve rises above the diagonal, squash makes vectors *longer*; that happens only for
    k < 1/4. Crossings (the fixed points) are marked with dots.
    """
    r = np.linspace(0.0, r_max, n)
    fig, ax = plt.subplots(figsize=(6.8, 5))
    for i, k in enumerate(ks):
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(r, output_norm("hinton", r, k), color=colour, label=f"k = {k:g}")
        roots = fixed_point_roots(k)
        if roots.size:
            ax.plot(roots, roots, "o", color=colour, markersize=8)
    ax.plot(r, r, "--", color="#000000", linewidth=1.4, label="output = input")
    ax.set(xlabel="input norm ||x||", ylabel="output norm", xlim=(0, r_max), ylim=(0, 1.05),
           title="||x||²/(k+||x||²): above the diagonal only if k ≤ 1/4")
    ax.legend(loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_squash_arrow(variant="su", k=0.5, x1=0.6, x2=0.3, lim=2.2):
    """A 2-D input vector and its squashed image as arrows from the origin, with the unit circle.

    Left panel: lines[0] = unit circle, lines[1] = input vector, lines[2] = squashed vector (each a
    segment from the origin). Right panel: the variant's norm curve (lines[0]), Hinton's k=1 curve
    for reference (lines[1]) and the current point (lines[2]). ``k`` is ignored unless the variant
    is "hinton" or "su" (the title says so).
    """
    x = np.array([x1, x2], dtype=np.float64)
    kk = effective_k(variant, k)
    y = squash(x, variant, k=kk)
    r_in, r_out = float(np.linalg.norm(x)), float(np.linalg.norm(y))

    fig, (ax, ax_curve) = plt.subplots(1, 2, figsize=(12, 5.4), gridspec_kw=dict(width_ratios=[1, 1.15]))
    t = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(t), np.sin(t), color="#000000", linewidth=1.2, label="unit circle")
    ax.plot([0, x[0]], [0, x[1]], color=PALETTE[0], linewidth=3.0, label=f"input x   (norm {r_in:.3f})")
    ax.plot([0, y[0]], [0, y[1]], color=PALETTE[3], linewidth=2.2, label=f"squash(x) (norm {r_out:.3f})")
    for vec, colour, width in ((x, PALETTE[0], 3.0), (y, PALETTE[3], 2.2)):
        if np.linalg.norm(vec) > 0:
            ax.annotate("", xy=tuple(vec), xytext=(0, 0),
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=width, mutation_scale=20,
                                           shrinkA=0, shrinkB=0))
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="component 1", ylabel="component 2", aspect="equal")
    ax.legend(loc="upper left", fontsize=10, handlelength=1.0)
    if kk is not None:
        ax.set_title(f"{variant}, k = {kk:g}")
    elif variant in SQUASH_CONSTANTS:
        ax.set_title(f"{variant}, default k = {SQUASH_CONSTANTS[variant]:g}")
    else:
        ax.set_title(f"{variant} (k ignored: no constant)")

    r = np.linspace(0, lim * np.sqrt(2), 301)
    ax_curve.plot(r, output_norm(variant, r, kk), color=VARIANT_COLOURS[variant], label=_label(variant, kk))
    ax_curve.plot(r, output_norm("hinton", r), "--", color="#000000", linewidth=1.4, label="hinton (k=1)")
    ax_curve.plot([r_in], [r_out], "o", color=PALETTE[3], markersize=10, label="this x")
    ax_curve.axhline(1.0, color="#999999", linewidth=1)
    ax_curve.set(xlabel="input norm ||x||", ylabel="output norm", ylim=(0, 1.6 if variant == "none" else 1.05),
                 title="Where x sits on the norm curve")
    ax_curve.legend(loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig
