"""Does the capsule model know what it sees? The measurements of notebook 14 and the comparison of the fixes.

Accuracy B asks only that the two highest scores be the pair's digits and the second be above 0.5; the
*exact set* also asks every other class to stay below 0.5, and "one digit + blank" asks a canvas with one digit
to get exactly one class above 0.5 (:mod:`capsule_lesson.two_digit`). This module measures why the article's
model fails them, as clustering (what the capsules of a blank region are, how much of each s_j they make, how
the lengths grow with the canvas), and compares the fixes trained by ``python -m capsule_lesson.experiments run
--plan calibration`` with the routing-family runs (article's recipe, mixed bfloat16, 3 seeds each).
"""

import argparse
import pathlib

import numpy as np

from .experiments import ABLATION_CONFIGS, CALIBRATION_FIXES
from .inspection import capsule_couplings, pixel_capsules, predict_scores, region_shares
from .records import (ABLATION_RECORDS, CALIBRATION_RECORDS, FAMILY_RECORDS, FASHION_RECORDS, flatten, load_records,
                      select)
from .statistics import format_table, mean_std, seed_verdict

#: The rows of the comparison: name -> (records folder, settings for :func:`capsule_lesson.records.select`).
VARIANTS = {
    "article (dynamic routing)": (FAMILY_RECORDS, {}),
    "author's later loop (k-means)": (FAMILY_RECORDS, {"routing": "kmeans"}),
    "EM routing": (FAMILY_RECORDS, {"routing": "em"}),
    **{name: (CALIBRATION_RECORDS, fix) for name, fix in CALIBRATION_FIXES.items()},
    "CNN": (CALIBRATION_RECORDS, {"model": "cnn"}),
    "CNN + canvas": (CALIBRATION_RECORDS, {"model": "cnn", "canvas": True}),
}
#: Notebook 09's studies with every test recorded, in the order of its sections: update rule x iterations, the
#: squash, the decoder (``--plan ablations``; one iteration, the article's rule at r = 3 and unit length inside the
#: loop are the routing-family runs "uniform", "dynamic" and "kmeans"). With one or two routings the two update
#: rules train the same network, and one routing is one pass with even couplings.
ABLATION_VARIANTS = {
    "r = 1 (either rule)": (FAMILY_RECORDS, {"routing": "uniform", "routings": 1}),
    "r = 2 (either rule)": (ABLATION_RECORDS, ABLATION_CONFIGS["replace, r = 2"]),
    "replace, r = 3 (article)": (FAMILY_RECORDS, {}),
    **{name: (ABLATION_RECORDS, ABLATION_CONFIGS[name])
       for name in ("replace, r = 5", "replace, r = 10", "accumulate, r = 3", "accumulate, r = 5",
                    "accumulate, r = 10", "squash hinton", "squash tanh", "squash exp", "squash rational",
                    "squash none")},
    "su, inner unit (= k-means)": (FAMILY_RECORDS, {"routing": "kmeans"}),
    "su, inner none": (ABLATION_RECORDS, ABLATION_CONFIGS["su, inner none"]),
    "capsule + decoder": (ABLATION_RECORDS, {"model": "capsule_decoder"}),
}
#: Notebook 10's Fashion-MNIST models with every test recorded (``--plan fashion``, the article's recipe), and the
#: calibrated capsule model of notebook 14 trained on Fashion-MNIST the same way, beside the CNN trained on the
#: same canvas (``--plan fashion_calibrated``).
FASHION_VARIANTS = {
    "CNN": (FASHION_RECORDS, {"dataset": "fashion_mnist", "model": "cnn"}),
    "capsule (article)": (FASHION_RECORDS, {"dataset": "fashion_mnist"}),
    "capsule, calibrated (bias-free + canvas)": (FASHION_RECORDS, {"dataset": "fashion_mnist",
                                                                   **CALIBRATION_FIXES["bias-free + canvas"]}),
    "CNN + canvas": (FASHION_RECORDS, {"dataset": "fashion_mnist", "model": "cnn", "canvas": True}),
}
#: The columns of the comparison: (flattened metric, heading).
METRICS = (("test_accuracy", "test acc."),
           ("stacked_top2", "stacked A"), ("stacked_exact_set", "stacked exact set"),
           ("stacked_mean_above", "stacked classes > 0.5"), ("stacked_blank_exactly_one", "stacked 1 + blank"),
           ("side_top2", "side A"), ("side_exact_set", "side exact set"),
           ("side_mean_above", "side classes > 0.5"), ("side_blank_exactly_one", "side 1 + blank"))
#: The columns of notebook 09's table: accuracy B too, beside A, since its float32 tables show A and B.
ABLATION_METRICS = (("test_accuracy", "test acc."),
                    *((f"{layout}_{m}", f"{layout} {label}") for layout in ("stacked", "side")
                      for m, label in (("top2", "A"), ("top2_confident", "B"), ("exact_set", "exact set"),
                                       ("mean_above", "classes > 0.5"), ("blank_exactly_one", "1 + blank"))))
#: The bar for a fix (mean over 3 seeds): metric -> the lowest acceptable value.
BAR = {"test_accuracy": 0.993, "stacked_top2": 0.95, "side_top2": 0.95, "stacked_exact_set": 0.90,
       "side_exact_set": 0.90, "stacked_blank_exactly_one": 0.97, "side_blank_exactly_one": 0.97}


def variant_rows(variants=VARIANTS):
    """``{variant name: rows (one per seed, flattened records)}``; a variant with no record yet has ``[]``."""
    loaded = {}
    out = {}
    for name, (folder, settings) in variants.items():
        if folder not in loaded:
            loaded[folder] = [flatten(r) for r in load_records(folder)]   # none yet: an empty list
        out[name] = select(loaded[folder], precision="mixed_bfloat16", **settings)
    return out


def bar_met(group, bar=BAR):
    """``{metric: whether the mean over the seeds in group reaches the bar}`` (empty for no seeds)."""
    if not group:
        return {}
    return {m: float(np.mean([r[m] for r in group])) >= low for m, low in bar.items()}


def _printed_as(metric):
    """How a metric is printed: "classes > 0.5" a count with two decimals, the rest in % (single digits with two)."""
    count = metric.endswith("mean_above")
    return {"scale": 1 if count else 100, "digits": 2 if count or metric == "test_accuracy" else 1}


def metric_cells(group, metrics=METRICS):
    """Mean ± std over the seeds in ``group`` of each metric, as printed: % (single digits with two decimals),
    "classes > 0.5" a count; "not run" for no seeds."""
    return [mean_std([r[m] for r in group], **_printed_as(m)) for m, _ in metrics]


def strict_table(rows, metrics=ABLATION_METRICS, first="configuration"):
    """Markdown: one row per ``{name: runs}`` of ``rows``, the number of seeds and mean ± std of each metric."""
    lines = [f"| {first} | seeds | " + " | ".join(label for _, label in metrics) + " |",
             "|" + "---|" * (len(metrics) + 2)]
    lines += [f"| {name} | {len(group)} | " + " | ".join(metric_cells(group, metrics)) + " |"
              for name, group in rows.items()]
    return "\n".join(lines)


def layout_table(rows, layout, first="configuration", metrics=ABLATION_METRICS):
    """Plain text: :func:`strict_table`'s rows for one layout ("stacked" or "side"), single-item accuracy first."""
    shown = [(m, label) for m, label in metrics if m == "test_accuracy" or m.startswith(f"{layout}_")]
    table = [[name, len(group)] + metric_cells(group, shown) for name, group in rows.items()]
    return format_table([first, "seeds"] + [label for _, label in shown], table)


def single_item_ceiling(group):
    """What single items allow a model's runs ``group`` on pairs: ``(single, single ** 2, not_exact)``.

    ``single`` is the mean single-item test accuracy; its square is A if the two items of a pair were read right
    or wrong independently, each as if alone; ``not_exact[layout]`` is the share of the pairs found (A) that are
    not the exact set (1 - exact set / A, from the means over runs).
    """
    if not group:
        raise ValueError("single_item_ceiling needs at least one run")
    single = float(np.mean([r["test_accuracy"] for r in group]))
    not_exact = {}
    for layout in ("stacked", "side"):
        found, exact = (float(np.mean([r[f"{layout}_{m}"] for r in group])) for m in ("top2", "exact_set"))
        if found == 0:
            raise ValueError(f"the runs find no pair {layout} (A = 0): no share of found pairs to give")
        not_exact[layout] = 1 - exact / found
    return single, single ** 2, not_exact


def ablation_table(rows=None, metrics=ABLATION_METRICS):
    """Markdown: notebook 09's configurations (:data:`ABLATION_VARIANTS`) under every test, mean ± std over seeds."""
    return strict_table(variant_rows(ABLATION_VARIANTS) if rows is None else rows, metrics, "configuration")


def fashion_table(rows=None, metrics=ABLATION_METRICS):
    """Markdown: notebook 10's Fashion-MNIST models (:data:`FASHION_VARIANTS`) under every test, mean ± std."""
    return strict_table(variant_rows(FASHION_VARIANTS) if rows is None else rows, metrics, "model")


#: Notebook 09's configurations that keep a squash with slope 0 at zero (Su's or Hinton's) both at the output and
#: inside the loop, and those that change the squash at one of the two places.
SQUASH_THROUGHOUT = ("r = 1 (either rule)", "r = 2 (either rule)", "replace, r = 3 (article)", "replace, r = 5",
                     "replace, r = 10", "accumulate, r = 3", "accumulate, r = 5", "accumulate, r = 10",
                     "squash hinton", "capsule + decoder")
SQUASH_CHANGED = ("squash tanh", "squash exp", "squash rational", "squash none", "su, inner unit (= k-means)",
                  "su, inner none")
#: The columns of :func:`ablation_contrasts`.
CONTRAST_METRICS = tuple((f"{layout}_{m}", f"{layout} {label}") for layout in ("stacked", "side")
                         for m, label in (("exact_set", "exact set"), ("mean_above", "classes > 0.5")))


def ablation_contrasts(rows=None, baseline="replace, r = 3 (article)", metrics=CONTRAST_METRICS):
    """Each configuration against ``baseline`` over seeds: ``[[name, seeds, verdict per metric], ...]``.

    A verdict is :func:`capsule_lesson.statistics.seed_verdict`: the difference of the means (points; for
    "classes > 0.5" classes), the exact one-sided permutation p and ``*`` when every seed of one beats every seed
    of the other. Configurations without a run, and the baseline itself, are left out.
    """
    rows = variant_rows(ABLATION_VARIANTS) if rows is None else rows
    if not rows.get(baseline):
        raise ValueError(f"the baseline {baseline!r} has no runs; configurations with runs: "
                         f"{[name for name, group in rows.items() if group]}")
    base = rows[baseline]
    return [[name, len(group)] + [seed_verdict([r[m] for r in group], [r[m] for r in base], **_printed_as(m))
                                  for m, _ in metrics]
            for name, group in rows.items() if group and name != baseline]


def run_range(rows, names, metric):
    """``(lowest, highest)`` single run of ``metric`` over every run of the configurations ``names``."""
    values = [r[metric] for name in names for r in rows[name]]
    if not values:
        raise ValueError(f"no runs of {metric!r} among {list(names)}")
    return min(values), max(values)


def calibration_table(rows=None, metrics=METRICS):
    """Markdown: mean ± std (%) over seeds of every variant (classes > 0.5: a count), and how many of the
    bar's seven criteria its mean meets."""
    rows = variant_rows() if rows is None else rows
    header = "| variant | seeds | " + " | ".join(label for _, label in metrics) + " | bar met |"
    lines = [header, "|" + "---|" * (len(metrics) + 3)]
    for name, group in rows.items():
        cells = metric_cells(group, metrics)
        met = bar_met(group)
        verdict = f"{sum(met.values())} / {len(BAR)}" if met else ""
        missed = [m for m, ok in met.items() if not ok]
        if 0 < len(missed) <= 2:   # a near miss: say by how much, past the rounding of the cells
            verdict += " (short: " + ", ".join(f"{dict(metrics)[m]} {100 * np.mean([r[m] for r in group]):.3f}"
                                               for m in missed) + ")"
        lines.append(f"| {name} | {len(group)} | " + " | ".join(cells) + f" | {verdict} |")
    bar = [f"≥ {100 * BAR[m]:g}" if m in BAR else "" for m, _ in metrics]
    lines.append("| the bar (mean of 3 seeds) | | " + " | ".join(bar) + " | |")
    return "\n".join(lines)


def best_variant(rows=None, min_seeds=3):
    """The capsule variant (of those with at least ``min_seeds`` seeds: the bar is a mean over three) whose means
    meet the most criteria of the bar; ties go to the higher mean exact-set accuracy over both layouts. None if no
    variant has enough seeds."""
    rows = variant_rows() if rows is None else rows
    full = {name: group for name, group in rows.items()
            if len(group) >= min_seeds and all(r["model"] == "capsule" for r in group)}
    if not full:
        return None

    def key(name):
        group = full[name]
        exact = np.mean([(r["stacked_exact_set"] + r["side_exact_set"]) / 2 for r in group])
        return sum(bar_met(group).values()), exact
    return max(full, key=key)


# --------------------------------------------------------------------------------------- the mechanism

def blank_capsules(model, digits, layout="side"):
    """The pixel capsules u_i of an all-black two-digit canvas, beside those of real digits.

    Returns ``{"blank_norm", "blank_spread", "digit_norm", "count"}``: the mean ||u_i|| on the blank canvas,
    the largest ||u_i - u_1|| between its capsules (0: one identical vector), the median ||u_i|| over the
    capsules of ``digits`` (uint8 ``(n, 28, 28)``, each on its own canvas) and the number of capsules a canvas has.
    """
    h, w = digits.shape[1:3]
    blank = np.zeros((1, h, 2 * w) if layout == "side" else (1, 2 * h, w), np.uint8)
    u_blank = pixel_capsules(model, blank)[0][0]
    u_digits = pixel_capsules(model, digits)[0]
    norms = np.linalg.norm(u_blank, axis=-1)
    return {"blank_norm": float(norms.mean()), "blank_spread": float(np.linalg.norm(u_blank - u_blank[0], axis=-1).max()),
            "digit_norm": float(np.median(np.linalg.norm(u_digits, axis=-1))), "count": int(len(u_blank))}


def blank_share(model, digits, labels, layout="side"):
    """How much of each output's length the blank half of a one-digit canvas makes.

    Each of ``digits`` (uint8 ``(n, 28, 28)``) is put first (left or top) on a two-digit canvas whose other half
    is blank. The evidence of pixel capsule i for class j is c_ij <û_{j|i}, v_j/||v_j||>, its part of the length
    of s_j along v_j (:func:`capsule_lesson.inspection.capsule_couplings`). Returns ``{"true", "absent"}``: the
    mean share of the evidence that comes from the capsules that see only the blank half
    (:func:`capsule_lesson.inspection.region_shares`), for the digit's class and for the nine others.
    """
    canvas = np.concatenate([digits, np.zeros_like(digits)], axis=2 if layout == "side" else 1)
    evidence = capsule_couplings(model, canvas).evidence               # (n, grid_h, grid_w, classes)
    share = np.stack([region_shares(evidence[..., j], layout)[:, 2] for j in range(evidence.shape[-1])], axis=1)
    present = np.eye(share.shape[1], dtype=bool)[np.asarray(labels)]
    return {"true": float(share[present].mean()), "absent": float(share[~present].mean())}


def lengths_on_growing_canvas(model, digits, labels, tiles=(1, 2, 3, 4), layout="side"):
    """One digit on a canvas of ``k`` tiles (the digit, then ``k - 1`` blank ones) for each ``k`` in ``tiles``.

    Returns ``{k: {"capsules", "true", "absent", "above"}}``: the number of pixel capsules, the mean length of
    the digit's class, the mean length of the nine others, and the mean number of classes above 0.5.
    """
    out = {}
    axis = 2 if layout == "side" else 1
    for k in tiles:
        canvas = np.concatenate([digits] + [np.zeros_like(digits)] * (k - 1), axis=axis)
        scores = predict_scores(model, canvas)
        present = np.eye(scores.shape[1], dtype=bool)[np.asarray(labels)]
        out[k] = {"capsules": pixel_capsules(model, canvas[:1])[0].shape[1], "true": float(scores[present].mean()),
                  "absent": float(scores[~present].mean()), "above": float((scores > 0.5).sum(axis=1).mean())}
    return out


def main(argv=None):
    """``python -m capsule_lesson.calibration``: print the comparison table (notebook 14's and the README's);
    ``--ablations``: notebook 09's configurations under the same tests instead; ``--fashion``: notebook 10's
    Fashion-MNIST models."""
    parser = argparse.ArgumentParser(prog="python -m capsule_lesson.calibration", description=main.__doc__)
    parser.add_argument("--ablations", action="store_true", help="notebook 09's configurations instead of the fixes")
    parser.add_argument("--fashion", action="store_true", help="notebook 10's Fashion-MNIST models instead")
    args = parser.parse_args(argv)
    if args.ablations or args.fashion:
        print(ablation_table() if args.ablations else fashion_table())
        return
    rows = variant_rows()
    print(calibration_table(rows))
    best = best_variant(rows)
    print(f"\nbest variant: {best} ({len(rows[best])} seed(s))")


if __name__ == "__main__":
    main()
