"""Figures and small helpers for notebooks 09 and 10 (beyond the article): the routing and squash ablations
read from the shipped training records, and the overlapping-digits test.

Every plotting function takes plain parameters and returns a closed matplotlib Figure whose artists
hold the plotted numbers (mean lines are labelled ``"<name> mean"`` in ``fig.axes[0].lines``; bar
heights are ``patch.get_height()``), so tests read exactly what a reader sees. What they draw is
selected and grouped in :mod:`capsule_lesson.records`; the overlap images come from :mod:`capsule_lesson.overlap`.
"""

import matplotlib.pyplot as plt
import numpy as np

from ..records import METRICS, ROUTING_COUNTS, SQUASH_CONFIGS, UPDATES, routing_grid, squash_grid, squash_label
from . import MODEL_COLOURS, MODEL_LABELS, PALETTE

UPDATE_COLOURS = {"replace": PALETTE[0], "accumulate": PALETTE[2]}


# --------------------------------------------------------------------------------------------------
# records -> grids and tables
# --------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------
# the ablation figures
# --------------------------------------------------------------------------------------------------

def _points(ax, x, vals, colour, label=None):
    """Per-seed values as small dots, spread a little sideways."""
    if len(vals):
        spread = np.linspace(-0.06, 0.06, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.scatter(x + spread, vals, s=28, color=colour, alpha=0.55, edgecolor="none", label=label, zorder=3)


def plot_routing_ablation(rows, metric="stacked_top2", dataset="mnist"):
    """Routing iterations (x, categorical 1, 2, 3, 5, 10) against ``metric`` (%, y) for both update rules:
    a dot per seed, the mean (a line through the cells that have runs, labelled ``"<rule> mean"``) and
    ± one sample std where a cell has several seeds. Cells without any run say "not run"."""
    grid = routing_grid(rows, metric, dataset)
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    xs = np.arange(len(ROUTING_COUNTS))
    means = {}
    for k, update in enumerate(UPDATES):
        offset = (k - 0.5) * 0.22
        m = np.array([grid[update, r].mean() * 100 if grid[update, r].size else np.nan for r in ROUTING_COUNTS])
        means[update] = m
        ax.plot(xs + offset, m, "-o", color=UPDATE_COLOURS[update], label=f"{update} mean", markersize=7)
    for k, update in enumerate(UPDATES):
        offset = (k - 0.5) * 0.22
        for x, r in zip(xs, ROUTING_COUNTS):
            vals = grid[update, r] * 100
            _points(ax, x + offset, vals, UPDATE_COLOURS[update],
                    label="one seed" if (k == 0 and r == ROUTING_COUNTS[0]) else None)
            if vals.size > 1:
                ax.errorbar(x + offset, vals.mean(), yerr=vals.std(ddof=1), fmt="none",
                            ecolor=UPDATE_COLOURS[update], capsize=5, linewidth=1.5)
    all_vals = np.concatenate([v for v in grid.values() if v.size] or [np.array([np.nan])]) * 100
    low, high = (np.nanmin(all_vals), np.nanmax(all_vals)) if np.isfinite(all_vals).any() else (0, 100)
    pad = max(1.0, 0.15 * (high - low))
    for x, r in zip(xs, ROUTING_COUNTS):
        absent = [u for u in UPDATES if not grid[u, r].size]
        if len(absent) == len(UPDATES):                      # one label for the whole column
            ax.text(x, (low + high) / 2, "not\nrun", ha="center", va="center", fontsize=11,
                    color=PALETTE[3], fontweight="bold")
            continue
        for update in absent:
            k = UPDATES.index(update)
            ax.text(x + (k - 0.5) * 0.3, (low + high) / 2, "not\nrun", ha="center", va="center",
                    fontsize=10, color=UPDATE_COLOURS[update], fontweight="bold")
    ax.set_xticks(xs, [str(r) for r in ROUTING_COUNTS])
    ax.set(xlabel="routing iterations r (training and test)", ylabel=f"{METRICS[metric]} (%)",
           ylim=(low - pad, high + pad), title=f"Routing ablation ({dataset}): {METRICS[metric]}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10)   # outside: never hides a dot
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_squash_ablation(rows, metric="stacked_top2", dataset="mnist"):
    """One column per squash configuration: the mean over seeds (%, a diamond; the line labelled
    ``"mean"`` holds them, NaN where not run, marked "not run"), a dot per seed and ± one sample std
    where there are several seeds."""
    grid = squash_grid(rows, metric, dataset)
    fig, ax = plt.subplots(figsize=(10, 4.6))
    xs = np.arange(len(SQUASH_CONFIGS))
    means = np.array([grid[c].mean() * 100 if grid[c].size else np.nan for c in SQUASH_CONFIGS])
    ax.plot(xs, means, "D", linestyle="none", color=PALETTE[0], markersize=10, label="mean")
    for x, c in zip(xs, SQUASH_CONFIGS):
        vals = grid[c] * 100
        _points(ax, x + 0.15, vals, PALETTE[7], label="one seed" if x == 0 else None)
        if vals.size > 1:
            ax.errorbar(x, vals.mean(), yerr=vals.std(ddof=1), fmt="none", ecolor=PALETTE[0], capsize=6)
    present = np.concatenate([v for v in grid.values() if v.size] or [np.array([0.5])]) * 100
    low, high = present.min(), present.max()
    pad = max(1.0, 0.15 * (high - low))
    for x, h in zip(xs, means):
        if not np.isfinite(h):
            ax.text(x, (low + high) / 2, "not\nrun", ha="center", va="center", fontsize=11, color=PALETTE[3],
                    fontweight="bold")
    ax.set_xticks(xs, [squash_label(*c).replace(", ", ",\n").replace(" (", "\n(") for c in SQUASH_CONFIGS],
                  fontsize=10)
    ax.set(ylabel=f"{METRICS[metric]} (%)", ylim=(low - pad, high + pad),
           xlabel="squash (output; inside the routing loop)",
           title=f"Squash ablation ({dataset}, r = 3, replace): {METRICS[metric]}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10)   # outside: never hides a dot
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_strict_tests(rows, layouts=("stacked", "side")):
    """Accuracy A beside the exact set for every configuration, one panel per layout: a horizontal bar for the mean
    over seeds (``ax.patches``, A then the exact set for each configuration with runs), a dot per seed.
    ``rows``: ``{configuration: flattened records}`` (:func:`capsule_lesson.calibration.variant_rows`); a
    configuration with no run keeps its line, empty."""
    names = list(rows)
    metrics = (("top2", "A", PALETTE[0]), ("exact_set", "exact set", PALETTE[3]))
    fig, axes = plt.subplots(1, len(layouts), figsize=(6.0 * len(layouts), 1.6 + 0.34 * len(names)), sharey=True,
                             squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        for k, group in enumerate(rows.values()):
            for offset, (metric, label, colour) in zip((-0.19, 0.19), metrics):
                vals = 100 * np.array([r[f"{layout}_{metric}"] for r in group], dtype=float)
                if vals.size:
                    ax.barh(k + offset, vals.mean(), height=0.36, color=colour, alpha=0.45, label=label)
                    ax.plot(vals, np.full(vals.size, k + offset), "o", color=colour, markersize=4)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlim(0, 100)
        ax.set_xlabel("% (bars: mean over seeds, dots: seeds)")
        ax.set_title(f"{layout}: A against the exact set")
    axes[0][0].invert_yaxis()
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------------------------------
# overlapping digits
# --------------------------------------------------------------------------------------------------

def plot_overlap_strip(x, y, index=0, shifts=(0, 4, 8, 12, 16, 20, 28), seed=0):
    """One pair of the overlap test drawn at several horizontal shifts (the picture before the numbers)."""
    from ..overlap import ink_overlap, overlay_pairs

    fig, axes = plt.subplots(1, len(shifts), figsize=(2.0 * len(shifts) + 2, 2.6),
                             gridspec_kw={"width_ratios": [28 + s for s in shifts]})
    for ax, s in zip(np.atleast_1d(axes), shifts):
        images, pairs = overlay_pairs(x, y, s, 0, seed)
        ink = ink_overlap(x, y, s, 0, seed)[index]
        ax.imshow(images[index], cmap="gray_r", vmin=0, vmax=255)
        ax.set(xticks=[], yticks=[], title=f"{s} px\nink shared {ink:.0%}")
        ax.title.set_fontsize(11)
        ax.grid(False)
    fig.suptitle(f"digits {pairs[index][0]} and {pairs[index][1]}, the second one moved right by", fontsize=12)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_overlap_sweep(rows, models=None):
    """Accuracy A (left) and B (right) against the horizontal shift between the two digits, one line per
    model (labelled with :data:`MODEL_LABELS`, y in %), from :func:`capsule_lesson.overlap.sweep` rows.
    The MultiMNIST-style result is a star to the left of shift 0; the shifts where the digits' ink
    overlaps (mean shared ink above 1%) are shaded."""
    models = models or list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, key, title in zip(axes, ("top2", "top2_confident"), ("accuracy A", "accuracy B")):
        overlay = [r for r in rows if r["test"] == "overlay"]
        shifts = sorted({r["shift"] for r in overlay})
        ink = {r["shift"]: r["ink_overlap"] for r in overlay}
        inked = [s for s in shifts if ink[s] > 0.01]
        if inked:
            ax.axvspan(min(shifts) - 1, max(inked) + 1, color=PALETTE[7], alpha=0.07, label="ink overlaps")
        for i, name in enumerate(models):
            pts = sorted((r["shift"], r[key]) for r in overlay if r["model"] == name)
            colour = MODEL_COLOURS.get(name, PALETTE[(i + 3) % len(PALETTE)])
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "-o", color=colour,
                    label=MODEL_LABELS.get(name, name))
            mm = [r for r in rows if r["test"] == "multimnist" and r["model"] == name]
            if mm:
                ax.plot([min(shifts) - 5], [100 * mm[0][key]], "*", color=colour, markersize=14)
        ax.set_xticks([min(shifts) - 5] + shifts, ["MM"] + [str(s) for s in shifts])
        ax.set(xlabel="shift of the second digit (px); MM: MultiMNIST-style", title=title, ylim=(0, 102))
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(loc="lower right", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_overlap_example(shift=28, index=0, x=None, y=None, scorers=None, seed=0, dy=0, threshold=0.5, *,
                         names=None):
    """One overlaid pair at ``shift`` pixels (horizontal; ``dy`` vertical) and every scorer's 10 class
    scores as grouped bars (model k's bars are ``fig.axes[1].containers[k]``).

    ``x, y``: single items and labels; ``scorers``: name -> function ``uint8 images -> scores``;
    ``names``: class -> text for the ticks and title (default: the digits; with ``widgets.interactive``
    pass it as ``widgets.fixed(...)``).
    """
    from ..overlap import ink_overlap, overlay_pairs

    if x is None or y is None or not scorers:
        raise ValueError("plot_overlap_example needs digits x, labels y and at least one scorer")
    images, pairs = overlay_pairs(x, y, int(shift), int(dy), seed)
    index = int(index)
    if not 0 <= index < len(pairs):
        raise ValueError(f"index must be in 0..{len(pairs) - 1}, got {index}")
    image, pair = images[index], pairs[index]
    ink = ink_overlap(x, y, int(shift), int(dy), seed)[index]
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.4, 3.0]})
    ax_img.imshow(image, cmap="gray_r", vmin=0, vmax=255)
    label = (lambda c: str(c)) if names is None else (lambda c: names[int(c)])
    what = "digits" if names is None else "items"
    ax_img.set(xticks=[], yticks=[], title=f"{what} {label(pair[0])} & {label(pair[1])}, shift {int(shift)} px\n"
                                          f"ink shared {ink:.0%}")
    ax_img.grid(False)
    models = list(scorers)
    width = 0.8 / len(models)
    classes = np.arange(10)
    for k, name in enumerate(models):
        s = np.asarray(scorers[name](image[None]))[0]
        ax_bar.bar(classes + (k - (len(models) - 1) / 2) * width, s, width=width,
                   color=MODEL_COLOURS.get(name, PALETTE[(k + 3) % len(PALETTE)]),
                   label=MODEL_LABELS.get(name, name))
    ax_bar.axhline(threshold, color=PALETTE[7], linestyle=":", linewidth=1.5, label=f"score {threshold:g}")
    ax_bar.set_xticks(classes, [label(c) for c in classes], rotation=0 if names is None else 25)
    for c, t in zip(classes, ax_bar.get_xticklabels()):
        if c in pair:
            t.set_fontweight("bold")
            t.set_color(PALETTE[3])
    ax_bar.set(xlabel=f"class (true {what} in bold)", ylabel="score", ylim=(0, 1.05), title="class scores")
    ax_bar.legend(loc="upper left", fontsize=9, ncol=2)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_item_pairs(images, pairs, names=None, count=4):
    """The first ``count`` two-item images, titled with their two labels (``names`` maps class -> text)."""
    fig, axes = plt.subplots(1, count, figsize=(3.4 * count, 2.6))
    for ax, image, pair in zip(np.atleast_1d(axes), images, pairs):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        text = [names[int(p)] if names is not None else str(int(p)) for p in pair]
        ax.set(xticks=[], yticks=[], title=" + ".join(text))
        ax.title.set_fontsize(11)
        ax.grid(False)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_found_by_class(found, single, names):
    """Per class: how often each model finds an item of that class in a two-item image (bars,
    :func:`capsule_lesson.found_by_class`) and its single-item accuracy (black ticks), in %.

    ``found`` and ``single``: model name -> ``(classes,)`` fractions; model k's bars are
    ``fig.axes[0].containers[k]``, its ticks the line labelled ``"<name> single"``.
    """
    if set(found) != set(single):
        raise ValueError(f"found and single must name the same models, got {sorted(found)} and {sorted(single)}")
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = np.arange(len(names))
    width = 0.8 / len(found)
    for k, name in enumerate(found):
        offset = (k - (len(found) - 1) / 2) * width
        ax.bar(x + offset, 100 * np.asarray(found[name]), width,
               color=MODEL_COLOURS.get(name, PALETTE[k % len(PALETTE)]),
               label=f"{MODEL_LABELS.get(name, name)}: found in a pair")
        ax.plot(x + offset, 100 * np.asarray(single[name]), "_", color="black", markersize=14, mew=2,
                label=f"{name} single")
    ax.set_xticks(x, names, rotation=20)
    ax.set(ylabel="%", ylim=(0, 102), title="Which items are found in a two-item image, per class")
    handles = list(ax.containers) + [ax.lines[0]]
    ax.legend(handles, [h.get_label() for h in ax.containers] + ["single-item accuracy (each model)"],
              loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=9, frameon=False)
    fig.tight_layout()
    plt.close(fig)
    return fig
