"""Figures and small helpers for notebooks 07 (margin loss, the two MNIST models) and 08 (train on one
digit, test on two), the article's 我的实验.

Plotting functions take plain parameters and return a closed matplotlib Figure; the plotted numbers
are the figure's data (``fig.axes[0].lines[0].get_ydata()``, bar heights ``patch.get_height()``), so the
tests read exactly what a reader sees. What they draw is computed in :mod:`capsule_lesson.inspection`
(scores, votes, couplings) and :mod:`capsule_lesson.statistics`.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..inspection import margin_loss_terms, top_two
from . import MODEL_COLOURS, MODEL_LABELS, PALETTE


def _colour(name, i=0):
    return MODEL_COLOURS.get(name, PALETTE[(i + 3) % len(PALETTE)])


def _label(name):
    return MODEL_LABELS.get(name, name)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------
# notebook 07: the margin loss, training curves, scores
# --------------------------------------------------------------------------------------------------

def plot_margin_loss(m_plus=0.9, m_minus=0.1, lam=0.25, n=201):
    """The margin loss of one class against its score: one line if the class is present, one if absent.

    Lines: ``fig.axes[0].lines[0]`` present, ``lines[1]`` absent (x = score in [0, 1]).
    """
    if not m_minus < m_plus:
        raise ValueError(f"need m_minus < m_plus, got m_plus={m_plus}, m_minus={m_minus}")
    s = np.linspace(0.0, 1.0, n)
    present, absent = margin_loss_terms(s, m_plus, m_minus, lam)
    fig, ax = plt.subplots(figsize=(8, 4.4))
    ax.plot(s, present, color=PALETTE[0], label=r"class present: $\max(0, m^+ - s)^2$")
    ax.plot(s, absent, color=PALETTE[3], label=r"class absent: $\lambda\,\max(0, s - m^-)^2$")
    ax.axvline(m_plus, color=PALETTE[0], linestyle=":", linewidth=1.5)
    ax.axvline(m_minus, color=PALETTE[3], linestyle=":", linewidth=1.5)
    ax.text(m_plus, 0.97, r" $m^+$", color=PALETTE[0], transform=ax.get_xaxis_transform(), va="top")
    ax.text(m_minus, 0.97, r" $m^-$", color=PALETTE[3], transform=ax.get_xaxis_transform(), va="top")
    ax.set(xlabel="score s of the class (capsule norm or sigmoid output)", ylabel="loss of this class",
           title=f"Margin loss: m+ = {m_plus:.2f}, m- = {m_minus:.2f}, lambda = {lam:.2f}",
           xlim=(0, 1), ylim=(0, max(1.0, float(present.max()), float(absent.max())) * 1.05))
    ax.legend(loc="upper center")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_history(histories):
    """Training curves from training records: ``histories`` maps a model name to its record's
    ``"history"`` (per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).

    Left: loss, right: accuracy; solid = test set (``val_*``), dashed = training set. Lines are in
    the order (model, train), (model, test) for each model.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, (name, history) in enumerate(histories.items()):
        colour = _colour(name, i)
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            epochs = np.arange(1, len(history[key]) + 1)
            ax.plot(epochs, history[key], color=colour, linestyle="--", label=f"{_label(name)}, training")
            ax.plot(epochs, history["val_" + key], color=colour, label=f"{_label(name)}, test")
    ax_loss.set(xlabel="epoch", ylabel="margin loss", yscale="log", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy (single digits)", ylim=(0.97, 1.0))
    ax_acc.legend(loc="lower right", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_score_histograms(scores_by_model, labels, bins=20):
    """For each model (one row): the top score, split into correct and wrong predictions (left), and
    the scores of the absent classes (right). Bars are densities so small groups stay visible.

    Returns ``(fig, data)`` with ``data[name] = {"top_correct", "top_wrong", "absent"}`` arrays.
    """
    labels = np.asarray(labels)
    edges = np.linspace(0, 1, bins + 1)
    fig, axes = plt.subplots(len(scores_by_model), 2, figsize=(12, 3.4 * len(scores_by_model)),
                             squeeze=False)
    data = {}
    for i, (name, scores) in enumerate(scores_by_model.items()):
        scores = np.asarray(scores)
        predicted = scores.argmax(1)
        top = scores.max(1)
        correct = predicted == labels
        absent_mask = np.ones_like(scores, dtype=bool)
        absent_mask[np.arange(len(labels)), labels] = False
        data[name] = {"top_correct": top[correct], "top_wrong": top[~correct],
                      "absent": scores[absent_mask]}
        ax_top, ax_abs = axes[i]
        ax_top.hist(top[correct], bins=edges, density=True, alpha=0.6, color=_colour(name, i),
                    label=f"correct ({correct.sum()})")
        if (~correct).any():
            ax_top.hist(top[~correct], bins=edges, density=True, histtype="step", linewidth=2.5,
                        color=PALETTE[7], label=f"wrong ({(~correct).sum()})")
        ax_top.set(xlabel="highest score", ylabel="density", yscale="log",
                   title=f"{_label(name)}: highest score")
        low, high = ax_top.get_ylim()
        ax_top.set_ylim(low, high * (high / low) ** 0.6)   # head room on the log axis: the legend sits above the bars
        ax_top.legend(loc="upper left")
        ax_abs.hist(data[name]["absent"], bins=edges, density=True, color=_colour(name, i), alpha=0.6)
        ax_abs.set(xlabel="score of a class that is not in the image", ylabel="density", yscale="log",
                   title=f"{_label(name)}: absent classes")
    fig.tight_layout()
    plt.close(fig)
    return fig, data


def plot_digit_scores(image, scores_by_model, true_digits=(), title=None, threshold=0.5):
    """One image (a digit or a pair) and each model's 10 class scores as grouped bars.

    ``true_digits``: the digit(s) in the image, marked under the bars. Bars of model k are
    ``fig.axes[1].containers[k]`` (heights = scores).
    """
    true_digits = [int(d) for d in np.atleast_1d(true_digits)]
    image = np.asarray(image)
    wide = image.shape[1] > image.shape[0]
    fig, (ax_img, ax_bar) = plt.subplots(
        1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.6 if wide else 1.0, 3.0]})
    ax_img.imshow(image, cmap="gray_r")
    ax_img.set(xticks=[], yticks=[], title=title or "digits " + " & ".join(map(str, true_digits)))
    ax_img.grid(False)
    names = list(scores_by_model)
    width = 0.8 / max(len(names), 1)
    classes = np.arange(10)
    for k, name in enumerate(names):
        ax_bar.bar(classes + (k - (len(names) - 1) / 2) * width, np.asarray(scores_by_model[name]),
                   width=width, color=_colour(name, k), label=_label(name))
    ax_bar.axhline(threshold, color=PALETTE[7], linestyle=":", linewidth=1.5, label=f"score {threshold:g}")
    ax_bar.set_xticks(classes, [str(c) for c in classes])
    ax_bar.set(xlabel="class", ylabel="score", ylim=(0, 1.05), title="class scores")
    for c, t in zip(classes, ax_bar.get_xticklabels()):
        if c in true_digits:
            t.set_fontweight("bold")
            t.set_color(PALETTE[3])
    ax_bar.legend(loc="upper left", fontsize=10, ncol=2)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_scores_at(index, images, labels, scores_by_model, title=None):
    """:func:`plot_digit_scores` for item ``index`` of a set (the widgets' browser).

    ``labels``: one digit per image ``(n,)`` or a pair per image ``(n, 2)``; ``scores_by_model`` maps a
    name to scores ``(n, classes)``.
    """
    index = int(index)
    label = np.atleast_1d(labels[index])
    caption = (title or "item") + f" {index}: " + " & ".join(str(int(d)) for d in label)
    return plot_digit_scores(images[index], {k: v[index] for k, v in scores_by_model.items()},
                             label, title=caption)


def plot_gallery(images, labels, scores_by_model, indices, columns=4):
    """A grid of images, each titled with its true digit(s) and every model's top classes and scores."""
    indices = list(indices)
    rows = max(1, -(-len(indices) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        ax.imshow(images[i], cmap="gray_r")
        label = np.atleast_1d(labels[i])
        k = len(label)
        lines = ["true: " + " & ".join(str(int(d)) for d in label)]
        for name, scores in scores_by_model.items():
            top = np.argsort(scores[i])[::-1][:max(k, 2)]
            short = {"cnn": "CNN", "capsule": "caps", "capsule_accumulate": "acc"}.get(name, name)
            lines.append(short + ": " + " ".join(f"{c}:{scores[i][c]:.2f}" for c in top))
        ax.set_title("\n".join(lines), fontsize=10, loc="left")
    fig.tight_layout()
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------------------------------
# notebook 08: two digits
# --------------------------------------------------------------------------------------------------

def plot_pair_examples(images_by_layout, pairs_by_layout, count=4):
    """The first ``count`` pairs of each layout (one row per layout), titled with their digits."""
    layouts = list(images_by_layout)
    fig, axes = plt.subplots(len(layouts), count, figsize=(2.9 * count, 3.0 * len(layouts)), squeeze=False)
    for r, layout in enumerate(layouts):
        for c in range(count):
            ax = axes[r, c]
            image = images_by_layout[layout][c]
            ax.imshow(image, cmap="gray_r")
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            ax.set_title(f"{layout} {image.shape[0]}x{image.shape[1]}: "
                         + " & ".join(str(int(d)) for d in pairs_by_layout[layout][c]), fontsize=11)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_second_scores(scores, bins=25, threshold=0.5):
    """Histograms of the **second-highest** score, one panel per model.

    ``scores`` maps ``(model, kind)`` to class scores, ``kind`` e.g. ``"single"`` or a layout name.
    On a single digit the second score should be low; on a pair it is the second digit's score,
    and accuracy B needs it above ``threshold``. Returns ``(fig, data)``, ``data[(model, kind)]`` the
    second scores.
    """
    models = list(dict.fromkeys(m for m, _ in scores))
    edges = np.linspace(0, 1, bins + 1)
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), squeeze=False)
    styles = {"single": dict(histtype="stepfilled", alpha=0.35), "side": dict(histtype="step", linewidth=2.5),
              "stacked": dict(histtype="step", linewidth=2.5, linestyle="--")}
    data = {}
    for ax, model in zip(axes[0], models):
        for k, ((m, kind), s) in enumerate(scores.items()):
            if m != model:
                continue
            second = top_two(s)[1]
            data[(m, kind)] = second
            colour = PALETTE[[7, 3, 4][k % 3]] if kind != "single" else _colour(m)
            ax.hist(second, bins=edges, density=True, color=colour,
                    label=f"{kind} (mean {second.mean():.2f})", **styles.get(kind, {}))
        ax.axvline(threshold, color=PALETTE[7], linestyle=":", linewidth=1.5)
        ax.set(xlabel="second-highest score", ylabel="density", yscale="log", title=_label(model))
        ax.legend(loc="upper center")
    fig.tight_layout()
    plt.close(fig)
    return fig, data


def trunk_grid_extent(grid_h, grid_w):
    """Where the cells of the trunk's last feature map sit on the input image, for ``imshow(extent=...)``.

    The trunk (two 3x3 convolutions, 2x2 pooling, two 3x3 convolutions, no padding) puts the centre of
    cell ``k`` at input pixel ``2k + 6.5``, cells 2 pixels apart.
    """
    return (5.5, 2 * grid_w + 5.5, 2 * grid_h + 5.5, 5.5)


def plot_coupling_map(image, couplings, digits, what="coupling c"):
    """Where the pixel capsules send their votes, for one image.

    ``couplings``: ``(grid_h, grid_w, classes)`` from :func:`capsule_couplings` (its ``couplings`` or its
    ``evidence``; ``what`` names it in the titles); ``digits``: the two
    classes ``(a, b)`` to compare. Three panels, each the image (faint) with a map on top, one cell per
    pixel capsule (a position of the trunk's last feature map, placed over the pixels it sees most):
    ``c_{i,a}``, ``c_{i,b}`` and ``c_{i,a} - c_{i,b}``. The maps are ``fig.axes[k].images[1]``, k = 0, 1, 2
    (colour bars follow as extra axes).
    """
    a, b = (int(d) for d in digits)
    c = np.asarray(couplings)
    image = np.asarray(image)
    maps = [c[..., a], c[..., b], c[..., a] - c[..., b]]
    extent = trunk_grid_extent(*c.shape[:2])
    wide = c.shape[1] > c.shape[0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.3) if wide else (10, 5.4))
    top = max(float(maps[0].max()), float(maps[1].max()), 1e-6)
    bottom = min(float(maps[0].min()), float(maps[1].min()), 0.0)
    lim = max(float(np.abs(maps[2]).max()), 1e-6)
    settings = [dict(cmap="viridis", vmin=bottom, vmax=top), dict(cmap="viridis", vmin=bottom, vmax=top),
                dict(cmap="PuOr_r", vmin=-lim, vmax=lim)]
    titles = [f"{what} to class {a}", f"{what} to class {b}", f"difference ({a} minus {b})"]
    for ax, m, kw, title in zip(axes, maps, settings, titles):
        ax.imshow(image, cmap="gray_r", alpha=0.6)
        im = ax.imshow(m, extent=extent, alpha=0.7, **kw)
        ax.set(xticks=[], yticks=[], title=title, xlim=(-0.5, image.shape[1] - 0.5),
               ylim=(image.shape[0] - 0.5, -0.5))
        ax.grid(False)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_pair_at(index, layout, pair_sets, scores, models=("cnn", "capsule")):
    """The pair browser of notebook 08: pair ``index`` of the ``layout`` test set and each model's scores.

    ``pair_sets[layout] = (images, pairs)`` from ``two_digit_test_set``; ``scores[(model, layout)]`` the
    cached class scores of those images.
    """
    images, pairs = pair_sets[layout]
    return plot_scores_at(index, images, pairs, {m: scores[(m, layout)] for m in models},
                          title=f"{layout} pair")
