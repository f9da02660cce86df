"""Tables of results for the README and the notebooks, computed from the training records: the results table,
the precision parity table, and how long a retraining takes.
"""

import numpy as np

from .precision import resolve_precision
from .pretrained import PRETRAINED_DIR
from .records import PRECISION_RECORDS, SHIPPED_RECORDS, flatten, hardware, load_records, select, trained_on
from .statistics import compare_seeds, mean_std


#: What the article reports (我的实验, for its stacked pairs): accuracy A (top two) and B (also second score > 0.5).
ARTICLE_TWO_DIGIT = {"cnn": "≈40% / ≈10%", "capsule": ">90% / >90%"}


def markdown_report(runs, dataset="mnist"):
    """A Markdown table of mean ± std over seeds per configuration (the README's results table)."""
    rows = [flatten(r) for r in load_records(runs) if r["dataset"] == dataset]
    groups = {}
    for row in rows:
        key = (row["model"], row["update"], row["routings"], row["squash"], row["inner_squash"], row["precision"])
        groups.setdefault(key, []).append(row)

    def cell(group, metric):
        values = np.array([r[metric] for r in group]) * 100
        if len(values) == 1:
            return f"{values[0]:.1f}"
        return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"

    lines = ["| model | routing | squash | seeds | test acc. % | side A % | side B % | stacked A % | stacked B % "
             "| trained on |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(groups, key=lambda k: (k[0] != "cnn", k[0] != "capsule", str(k[1]) != "replace",
                                         int(k[2]) if str(k[2]).isdigit() else 0, str(k[3]), k[4], k[5]))
    for key in order:
        model, update, routings, squash, inner, precision = key
        group = groups[key]
        test = np.array([r["test_accuracy"] for r in group]) * 100
        test_cell = f"{test.mean():.2f}" + (f" ± {test.std(ddof=1):.2f}" if len(test) > 1 else "")
        routing = f"{update}, r={routings}" if model != "cnn" else "—"
        squash_cell = (squash + (f" (inner: {inner})" if inner else "")) if model != "cnn" else "—"
        model_cell = model if precision == "float32" else f"{model} ({precision})"
        lines.append(f"| {model_cell} | {routing} | {squash_cell} | {len(group)} | {test_cell} | "
                     f"{cell(group, 'side_top2')} | {cell(group, 'side_top2_confident')} | "
                     f"{cell(group, 'stacked_top2')} | {cell(group, 'stacked_top2_confident')} | "
                     f"{trained_on(group)} |")
    return "\n".join(lines)


def expected_training_minutes(model, precision, dataset="mnist", update="replace"):
    """Mean minutes of the CPU records of ``model`` with the article's settings in ``precision`` (None if none).

    What a notebook's "retrain" switch prints before it starts. Read from the study records, the precision records
    and the shipped models' records (a run that sits in two of them counts once).
    """
    records = {r.get("weights_sha256"): r
               for folder in (SHIPPED_RECORDS, PRECISION_RECORDS, PRETRAINED_DIR) for r in load_records(folder)}
    rows = select([flatten(r) for r in records.values()], dataset, model, update=update, precision=precision)
    times = [r["train_time_s"] for r in rows if hardware(r).startswith("CPU")]
    return sum(times) / len(times) / 60 if times else None


def retraining_setting(model, dataset="mnist", update="replace"):
    """``("auto", note)`` for a notebook's retrain switch: train with ``precision="auto"``, and a line saying which
    precision that picks here, why, and how long the records of that setting took on the project's 2-core CPU."""
    policy, why = resolve_precision("auto")
    minutes = expected_training_minutes(model, policy, dataset, update)
    took = (f"its records took about {minutes:.0f} min on 2 CPU cores" if minutes
            else "no CPU record of this setting says how long it takes")
    return "auto", f"training {model} in {policy} ({why}); {took}"


PARITY_METRICS = {"test_accuracy": "test acc.", "side_top2": "side A", "side_top2_confident": "side B",
                  "stacked_top2": "stacked A", "stacked_top2_confident": "stacked B"}


def parity_report(reference=SHIPPED_RECORDS, candidate=PRECISION_RECORDS, dataset="mnist"):
    """Markdown: each model of the article's recipe in the candidate's precision beside its float32 runs.

    Per metric: mean ± std over seeds of both, their difference, and the exact permutation test over seeds
    (:func:`capsule_lesson.statistics.compare_seeds`). "within seed noise" means the two sets of seeds
    interleave (two-sided p > 0.1; with 3 seeds against 3, p = 0.1 is every seed of one beating every seed of
    the other). The footnote says where each side was trained: precision may be confounded with hardware.
    """
    def groups(runs):
        rows = [flatten(r) for r in load_records(runs)]
        return {(model, precision): found for precision in {r["precision"] for r in rows}
                for model in ("cnn", "capsule")
                if (found := select(rows, dataset, model, precision=precision))}

    def cell(values):
        return f"{mean_std(values, scale=1, digits=2)} ({values.size})"

    base, fast = groups(reference), groups(candidate)
    precisions = "/".join(sorted({p for _, p in fast}))
    lines = [f"| model | metric | float32 (seeds) | {precisions} (seeds) | difference | p (two-sided) | verdict |",
             "|---|---|---|---|---|---|---|"]
    used = []
    for (model, precision), rows in sorted(fast.items(), key=lambda kv: kv[0][0] != "cnn"):
        ref = base.get((model, "float32"), [])
        used += ref
        for metric, label in PARITY_METRICS.items():
            a = np.array([r[metric] for r in rows]) * 100
            b = np.array([r[metric] for r in ref]) * 100
            if not b.size:
                lines.append(f"| {model} | {label} | none | {cell(a)} | | | no float32 runs to compare |")
                continue
            diff, separated, p = compare_seeds(a, b)
            lines.append(f"| {model} | {label} | {cell(b)} | {cell(a)} | {diff:+.2f} | {min(1.0, 2 * p):.2f} | "
                         f"{'outside seed noise' if separated else 'within seed noise'} |")
    where = (f"float32: {trained_on(used)}; {precisions}: "
             f"{trained_on([r for rows in fast.values() for r in rows])}")
    return "\n".join(lines) + f"\n\nTrained on: {where}."
