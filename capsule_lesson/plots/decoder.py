"""Figures for notebook 11: what the 16 dimensions of a digit capsule encode.

``decode`` below is :attr:`capsule_lesson.decoder_views(model).decode`: poses ``(n, 16)`` of one digit
capsule -> images ``(n, 28, 28)`` in [0, 1]. Any function with that contract works (the tests pass a tiny
linear one), so every figure here is testable without a trained model.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..decoder import DELTAS

def _show(ax, image, title=None):
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1 if np.max(image) <= 1 else 255)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=11)


def plot_masking(capsules, digit):
    """The ten digit capsules of one image ``(10, 16)`` as a heat map, before and after masking to ``digit``."""
    capsules = np.asarray(capsules, dtype=float)
    masked = np.zeros_like(capsules)
    masked[digit] = capsules[digit]
    limit = np.abs(capsules).max() or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    axes[0].set_yticks(range(len(capsules)), [f"{k}  |v|={np.linalg.norm(capsules[k]):.2f}"
                                              for k in range(len(capsules))], fontsize=9)
    axes[1].tick_params(labelleft=False)          # the rows are labelled once, left of both maps
    for ax, data, title in ((axes[0], capsules, "all ten capsules"),
                            (axes[1], masked, f"masked: only capsule {digit} kept")):
        im = ax.imshow(data, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(data.shape[1]), range(data.shape[1]), fontsize=8)
        ax.set_xlabel("dimension")
        ax.set_title(title, fontsize=12)
        ax.grid(False)
    fig.colorbar(im, ax=axes, shrink=0.9, label="value")
    plt.close(fig)
    return fig


def plot_reconstructions(images, redrawn, labels, predicted):
    """Top row: test images (true label); bottom row: redrawn from the longest capsule (its class)."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 3.0), squeeze=False)
    for k in range(n):
        _show(axes[0, k], np.asarray(images[k]).squeeze(), f"{labels[k]}")
        _show(axes[1, k], np.asarray(redrawn[k]).squeeze(), f"→ {predicted[k]}")
    axes[0, 0].set_ylabel("image", fontsize=11)
    axes[1, 0].set_ylabel("redrawn", fontsize=11)
    fig.suptitle("Test images and their reconstructions from one capsule (title: label, → longest capsule)",
                 fontsize=12)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_dimension_sweep(grid, deltas=DELTAS, dims=None, title=None):
    """The sweep as one picture: a row per dimension, a column per delta (the image is ``fig.axes[0]``)."""
    grid = np.asarray(grid)
    rows, cols, h, w = grid.shape
    dims = list(range(rows)) if dims is None else list(dims)
    mosaic = grid.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
    fig, ax = plt.subplots(figsize=(0.55 * cols + 1.2, 0.55 * rows + 0.9))
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks(np.arange(cols) * w + w / 2, [f"{d:+.2f}" for d in deltas], rotation=90, fontsize=9)
    ax.set_yticks(np.arange(rows) * h + h / 2, [f"dim {d}" for d in dims], fontsize=9)
    ax.grid(False)
    ax.set_xlabel("change added to the dimension")
    ax.set_title(title or "Reconstructions while one dimension sweeps", fontsize=12)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_pose_edit(decode, pose, digit, offsets):
    """Redraw capsule ``digit`` from ``pose + offsets``: original, edited, and the 16 offsets as bars."""
    pose = np.asarray(pose, dtype="float32")
    offsets = np.asarray(offsets, dtype="float32")
    if offsets.shape != pose.shape:
        raise ValueError(f"offsets must have the pose's shape {pose.shape}, got {offsets.shape}")
    before, after = decode(np.stack([pose, pose + offsets]), digit)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 1, 1.8]})
    _show(axes[0], before, f"capsule {digit}, as encoded")
    _show(axes[1], after, "with your changes")
    axes[2].bar(np.arange(len(pose)), offsets, color=["#0072B2" if o >= 0 else "#D55E00" for o in offsets])
    axes[2].set_ylim(-0.27, 0.27)
    axes[2].set_xticks(np.arange(len(pose)))
    axes[2].tick_params(axis="x", labelsize=9)
    axes[2].set_xlabel("dimension")
    axes[2].set_title("change per dimension", fontsize=12)
    fig.tight_layout()
    plt.close(fig)
    return fig


def pose_sliders(decode, pose, digit, limit=0.25, step=0.01):
    """16 sliders (one per dimension, -limit..+limit) redrawing :func:`plot_pose_edit` live.

    Returns ``(box, interactive)``: display ``box`` (sliders in a 4-column grid, then the figure);
    ``interactive.result`` is the current figure.
    """
    import ipywidgets as widgets

    pose = np.asarray(pose, dtype="float32")

    def redraw(**offsets):
        return plot_pose_edit(decode, pose, digit, [offsets[f"d{k}"] for k in range(len(pose))])

    sliders = {f"d{k}": widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=step, description=f"dim {k}",
                                            readout_format="+.2f", layout=widgets.Layout(width="230px"))
               for k in range(len(pose))}
    live = widgets.interactive(redraw, {"auto_display": True}, **sliders)
    grid = widgets.GridBox(list(sliders.values()), layout=widgets.Layout(grid_template_columns="repeat(4, 240px)"))
    reset = widgets.Button(description="reset all to 0")
    reset.on_click(lambda _: [setattr(s, "value", 0.0) for s in sliders.values()])
    return widgets.VBox([grid, reset, live.children[-1]]), live
