"""Figures for notebook 13, the article's open questions (思考: 反向传播好不好, 池化好不好, 亟待优化).

Every function takes plain parameters or the package's results and returns a closed matplotlib Figure whose
plotted data tests can read back (``fig.axes[k].lines``, ``.patches``, ``.images``).
"""

import matplotlib.pyplot as plt
import numpy as np

from .. import open_questions as oq, trial_and_error as trial
from . import PALETTE

METHOD_STYLES = {"gradient": dict(color=PALETTE[0], marker="o", linestyle="-"),
                 "trial": dict(color=PALETTE[1], marker="s", linestyle="--"),
                 "random": dict(color=PALETTE[3], marker="^", linestyle=":")}
MODEL_COLORS = {"cnn": PALETTE[1], "capsule": PALETTE[0], "cnn, trained on pairs": PALETTE[2]}
TRANSFER_LABELS = {"cnn": "CNN, trained on single digits", "cnn, trained on pairs": "CNN, trained on stacked pairs",
                   "capsule": "capsule, trained on single digits"}
DOWNSAMPLE_LABELS = {"avgpool": "conv + 2×2 average pool\n(the article's)", "stride": "stride-2 conv,\nno pooling",
                     "none": "no downsampling"}


def _finish(fig):
    plt.close(fig)
    return fig


def plot_search_paths(seed=0, tolerance=1e-3):
    """A two-parameter least-squares problem: the loss's contours and the path each method takes from θ = 0
    to the minimum (``ax.lines[k]``: the path of :data:`capsule_lesson.open_questions.METHODS` [k]), with the
    passes it spent in the legend."""
    problem = trial.least_squares_problem(2, seed, samples_per_param=4)
    traces = {m: trial.fit(m, problem, tolerance, seed=seed, keep_path=True) for m in trial.METHODS}
    points = np.concatenate([t.path for t in traces.values()] + [problem.theta_star[None]])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.25 * (hi - lo).max()
    a = np.linspace(lo[0] - pad, hi[0] + pad, 160)
    b = np.linspace(lo[1] - pad, hi[1] + pad, 160)
    grid = np.stack(np.meshgrid(a, b), axis=-1).reshape(-1, 2)
    values = 0.5 * np.mean((grid @ problem.x.T - problem.y) ** 2, axis=1).reshape(len(b), len(a))
    fig, ax = plt.subplots(figsize=(7.4, 6.2))
    for method, trace in traces.items():
        ax.plot(trace.path[:, 0], trace.path[:, 1], markersize=4, linewidth=1.6,
                label=f"{trial.METHOD_LABELS[method]}: {trace.reached} passes", **METHOD_STYLES[method])
    ax.contour(a, b, np.log(values - problem.loss_star + 1e-12), levels=14, colors="#999999", linewidths=0.8)
    ax.plot(*problem.theta_star, marker="*", color="black", markersize=16, linestyle="none", label="minimum")
    ax.set_xlabel(r"parameter $\theta_1$")
    ax.set_ylabel(r"parameter $\theta_2$")
    ax.set_title("three ways down the same valley")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.09), fontsize=10, ncol=1, frameon=False)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return _finish(fig)


def plot_search_traces(n_params=64, seed=0, tolerance=1e-2):
    """Excess loss (relative to its start) against passes over the data for each method on
    ``least_squares_problem(n_params, seed)``; the dotted line is the target ``tolerance``. The slider's figure."""
    problem = trial.least_squares_problem(n_params, seed)
    fig, ax = plt.subplots(figsize=(8.4, 4.8))
    for method in trial.METHODS:
        trace = trial.fit(method, problem, tolerance, max_passes=200_000, seed=seed)
        reached = "not reached" if trace.reached is None else f"{trace.reached:,} passes"
        style = dict(METHOD_STYLES[method], marker=None)
        ax.plot(trace.passes, trace.excess / trace.excess[0], label=f"{trial.METHOD_LABELS[method]} ({reached})",
                **style)
    ax.axhline(tolerance, color="black", linestyle=":", linewidth=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passes over the data (a loss = 1, a gradient = 1 more)")
    ax.set_ylabel(r"$(L - L^*)\,/\,(L_0 - L^*)$")
    ax.set_title(f"{n_params} parameters")
    ax.legend(fontsize=10, loc="lower left")
    fig.tight_layout()
    return _finish(fig)


def plot_search_costs(costs):
    """Passes to reach the target against the number of parameters (log-log), one line per method through
    the per-size medians, bars from the lowest to the highest seed; growth exponents in the legend.
    ``costs``: what :func:`capsule_lesson.open_questions.search_costs` returns."""
    sizes = np.asarray(costs["sizes"])
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    for method in trial.METHODS:
        table = np.asarray(costs[method], dtype=float)
        median = np.nanmedian(table, axis=1)
        low, high = np.nanmin(table, axis=1), np.nanmax(table, axis=1)
        p = trial.growth_exponent(sizes, table)
        ax.errorbar(sizes, median, yerr=[median - low, high - median], capsize=3,
                    label=f"{trial.METHOD_LABELS[method]}: ∝ n^{p:.2f}", **METHOD_STYLES[method])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("number of parameters n")
    ax.set_ylabel("passes to cut the excess loss 100-fold")
    ax.legend(fontsize=10, loc="upper left")
    fig.tight_layout()
    return _finish(fig)


def plot_pooled_kernel(kernel, pooled, route_a, route_b):
    """Four panels: a 3×3 ``kernel``, the 4×4 kernel of the equivalent stride-2 convolution (``pooled``, from
    :func:`~capsule_lesson.open_questions.pooled_kernel`), and the two routes' outputs on one image (``route_a``
    in ``axes[2]``: conv then 2×2 average pool; ``route_b`` in ``axes[3]``: one stride-2 convolution); their
    largest difference in the last title."""
    fig, axes = plt.subplots(1, 4, figsize=(13.5, 3.8))
    span = np.abs(kernel).max()
    for ax, data, title in ((axes[0], kernel, "3×3 kernel k"), (axes[1], pooled, "4×4 kernel (k spread\nover a 2×2 box)")):
        ax.imshow(data, cmap="RdBu_r", vmin=-span, vmax=span)
        ax.set_title(title, fontsize=12)
    vmax = max(np.abs(route_a).max(), np.abs(route_b).max())
    axes[2].imshow(route_a, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[2].set_title("conv (stride 1), then\n2×2 average pool", fontsize=12)
    axes[3].imshow(route_b, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[3].set_title(f"one stride-2 conv\nmax |difference| {np.abs(route_a - route_b).max():.0e}", fontsize=12)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.tight_layout()
    return _finish(fig)


def plot_downsample_results(records, metric="A"):
    """Grouped bars, one panel per layout (stacked first): the two-digit accuracy ``metric`` ("A", "B" or
    "exact") of the CNN and the capsule model, trained on single digits, for each downsampling of the trunk.
    ``records``: :func:`~capsule_lesson.open_questions.load_open_records`. ``ax.patches`` hold the bars in the
    order (model, downsampling)."""
    rows = [oq.flat_row(r) for r in records.values() if r.get("train_on", "single") == "single"]
    downsamples = [d for d in ("avgpool", "stride", "none") if any(r["downsample"] == d for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.6), sharey=True)
    width = 0.38
    for ax, layout in zip(axes, ("stacked", "side")):
        for k, model in enumerate(("cnn", "capsule")):
            for i, d in enumerate(downsamples):
                row = next((r for r in rows if r["model"] == model and r["downsample"] == d), None)
                value = np.nan if row is None else 100 * row[f"{layout}_{metric}"]
                ax.bar(i + (k - 0.5) * width, value, width, color=MODEL_COLORS[model],
                       label=model if i == 0 else None)
                ax.text(i + (k - 0.5) * width, value + 1 if np.isfinite(value) else 1,
                        f"{value:.1f}" if np.isfinite(value) else "not\nrun", ha="center", fontsize=10,
                        color="black" if np.isfinite(value) else "#777777")
        ax.set_xticks(range(len(downsamples)), [DOWNSAMPLE_LABELS[d] for d in downsamples], fontsize=10)
        ax.set_xlim(-0.6, len(downsamples) - 0.4)
        ax.set_title(f"{layout} pairs ({'56×28' if layout == 'stacked' else '28×56'}), accuracy {metric}")
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("% of pairs")
    axes[0].legend(loc="upper left", fontsize=10)
    fig.tight_layout()
    return _finish(fig)


def plot_transfer(records):
    """Bars of single-digit accuracy and two-digit accuracy A (stacked, side by side) for the CNN trained on
    single digits, the CNN trained on stacked pairs and the capsule model trained on single digits (all with
    the article's trunk). ``ax.patches``: per group (metric), the three models in that order."""
    rows = {"cnn": records.get("cnn_avgpool_seed0"), "cnn, trained on pairs": records.get(
        "cnn_avgpool_pairs-stacked_seed0"), "capsule": records.get("capsule_avgpool_seed0")}
    metrics = (("test_accuracy", "single digits"), ("stacked_A", "stacked pairs, A"), ("side_A", "side-by-side pairs, A"))
    fig, ax = plt.subplots(figsize=(10.0, 4.6))
    width = 0.26
    for k, (name, record) in enumerate(rows.items()):
        row = None if record is None else oq.flat_row(record)
        for i, (key, _) in enumerate(metrics):
            value = np.nan if row is None else 100 * row[key]
            ax.bar(i + (k - 1) * width, value, width, color=MODEL_COLORS[name],
                   label=TRANSFER_LABELS[name] if i == 0 else None)
            if np.isfinite(value):
                ax.text(i + (k - 1) * width, value + 1, f"{value:.1f}", ha="center", fontsize=10)
    ax.set_xticks(range(len(metrics)), [label for _, label in metrics])
    ax.set_ylim(0, 125)
    ax.set_ylabel("% correct")
    ax.legend(loc="upper center", ncol=3, fontsize=9.5)
    ax.set_title("what was trained on, what is tested")
    fig.tight_layout()
    return _finish(fig)


def plot_timings(layer_times):
    """Forward and forward + backward time of the capsule layer against the number of routings
    (``ax.lines[0]``: forward, ``[1]``: forward + backward), and their ratio on the right panel (``lines[0]``).
    ``layer_times``: :func:`~capsule_lesson.open_questions.layer_timings`."""
    routings = sorted(layer_times)
    forward = np.array([layer_times[r]["forward"] for r in routings])
    both = np.array([layer_times[r]["forward+backward"] for r in routings])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    left.plot(routings, forward, label="forward", **METHOD_STYLES["gradient"])
    left.plot(routings, both, label="forward + backward", **METHOD_STYLES["random"])
    left.set_xlabel("routings r")
    left.set_ylabel("ms per batch")
    left.set_ylim(bottom=0)
    left.legend(fontsize=10)
    right.plot(routings, both / forward, color="black", marker="o")
    right.axhline(3, color="#999999", linestyle=":", linewidth=1.2)
    right.set_xlabel("routings r")
    right.set_ylabel("(forward + backward) ÷ forward")
    right.set_ylim(bottom=0)
    for ax in (left, right):
        ax.set_xticks(routings)
    fig.tight_layout()
    return _finish(fig)
