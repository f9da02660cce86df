"""The routing family compared: on a problem with known answers, and on the article's experiment.

On the toy (:func:`capsule_lesson.toy.cats_and_dogs`) we know which lower capsule belongs where, so each
routing's couplings can be scored against the truth; on MNIST the comparison reads the training records of
``python -m capsule_lesson.experiments run --plan routing_family`` (three seeds per routing).
"""

import argparse
import json
import pathlib

import numpy as np

from .records import FAMILY_RECORDS, flatten, load_records, select
from .routing import coupling_entropy, dynamic_routing, route
from .routing_settings import ROUTINGS
from .statistics import compare_seeds, mean_std

#: Iterations of each routing in those runs (uniform couplings need one pass).
FAMILY_ROUTINGS = {"dynamic": 3, "kmeans": 3, "em": 3, "uniform": 1}
#: The columns of the MNIST comparison: (flattened metric, heading).
FAMILY_METRICS = (("test_accuracy", "test acc."),
                  ("stacked_top2", "stacked A"), ("stacked_top2_confident", "stacked B"),
                  ("stacked_exact_set", "stacked exact set"), ("stacked_blank_exactly_one", "stacked 1 + blank"),
                  ("side_top2", "side A"), ("side_top2_confident", "side B"),
                  ("side_exact_set", "side exact set"), ("side_blank_exactly_one", "side 1 + blank"))


def coupling_changes(result):
    """``max_ij |c_ij(r) - c_ij(r-1)|`` between consecutive iterations of a routing result: ``(routings - 1,)``."""
    c = result.c_history
    return np.abs(np.diff(c, axis=0)).reshape(len(c) - 1, -1).max(axis=1)


def iterations_to_settle(u_hat, routing, tol=1e-3, max_routings=60, **options):
    """The first iteration r whose couplings differ from those of iteration r-1 by less than ``tol``
    everywhere; None if that takes more than ``max_routings``. Uniform couplings never change: 1."""
    if routing == "uniform":
        return 1
    changes = coupling_changes(route(u_hat, routing, routings=max_routings, **options))
    settled = np.flatnonzero(changes < tol)
    return int(settled[0]) + 2 if settled.size else None


def toy_outcome(toy, routing, routings=3, temperature=1.0):
    """How one routing clusters the toy: a dict with

    ``c`` (n_in, n_out): the final couplings; ``eyes`` (n_out,): the shared part's couplings;
    ``own``: the mean coupling of each single-owner part to its owner (1 = every part found its object);
    ``lengths`` (n_out,): ||v_j||; ``cosines`` (n_out,): cos(v_j, the true direction of cluster j).
    """
    options = {"temperature": temperature} if routing == "kmeans" else {}
    result = route(toy.u_hat, routing, routings=routings, **options)
    c = result.c_history[-1]
    single = np.flatnonzero(toy.members.sum(axis=1) == 1)
    owner = toy.members[single].argmax(axis=1)
    lengths = np.linalg.norm(result.v, axis=-1)
    cosines = np.sum(result.v * toy.directions, axis=-1) / np.maximum(lengths, 1e-12)
    return {"c": c, "eyes": c[toy.dual], "own": float(c[single, owner].mean()), "lengths": lengths,
            "cosines": cosines}


def toy_table(toy, routings=3, temperature=1.0, tol=1e-3):
    """One text row per routing: own-cluster coupling, the eyes' split, ||v||, and iterations to settle."""
    names = toy.upper_names
    lines = [f"{'routing':>8} | own coupling | eyes: " + " / ".join(names) + " | ||v||: " + " / ".join(names)
             + f" | iterations to settle (tol {tol:g})"]
    for routing in ROUTINGS:
        out = toy_outcome(toy, routing, routings, temperature)
        options = {"temperature": temperature} if routing == "kmeans" else {}
        settle = iterations_to_settle(toy.u_hat, routing, tol=tol, **options)
        lines.append(f"{routing:>8} | {out['own']:12.2f} | " + " / ".join(f"{x:.2f}" for x in out["eyes"])
                     + "   | " + " / ".join(f"{x:.2f}" for x in out["lengths"])
                     + f"  | {settle if settle is not None else 'not within 60'}")
    return "\n".join(lines)


def family_rows(records=FAMILY_RECORDS):
    """``{routing: rows (one per seed, flattened records)}`` of the routing-family runs."""
    rows = [flatten(r) for r in load_records(records)]
    precisions = {r["precision"] for r in rows}
    if len(precisions) > 1:
        raise ValueError(f"the routing-family records mix precisions {sorted(precisions)}")
    precision = precisions.pop() if precisions else "float32"
    return {routing: select(rows, routing=routing, routings=n, precision=precision)
            for routing, n in FAMILY_ROUTINGS.items()}


def family_table(rows=None, metrics=FAMILY_METRICS):
    """Markdown: mean ± std (%) over seeds of each routing, and each routing's mean minus uniform couplings'
    (``*``: every seed of one beats every seed of the other, the best 3 seeds against 3 can show)."""
    rows = family_rows() if rows is None else rows
    header = "| routing | seeds | " + " | ".join(label for _, label in metrics) + " | s / epoch |"
    lines = [header, "|" + "---|" * (len(metrics) + 3)]
    for routing, group in rows.items():
        cells = [mean_std([r[m] for r in group], digits=2 if m == "test_accuracy" else 1) for m, _ in metrics]
        epoch = mean_std([r["train_time_s"] / r["epochs"] for r in group], scale=1, digits=0)
        lines.append(f"| {routing} | {len(group)} | " + " | ".join(cells) + f" | {epoch} |")
    base = rows.get("uniform", [])
    for routing, group in rows.items():
        if routing == "uniform" or not group or not base:
            continue
        cells = []
        for m, _ in metrics:
            diff, separated, _ = compare_seeds(np.array([r[m] for r in group]) * 100,
                                               np.array([r[m] for r in base]) * 100)
            cells.append(f"{diff:+.2f}" + (" *" if separated else ""))
        lines.append(f"| {routing} − uniform | | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def step_times(benchmark_json):
    """``{(model, precision): (median train-step ms, ratio to the CNN's)}`` from a benchmark results file
    that holds the ``routings`` item (``python -m benchmarks --only routings``)."""
    report = json.loads(pathlib.Path(benchmark_json).read_text())
    found = report["results"].get("tensorflow", {}).get("routings")
    if not found or "settings" not in found:
        raise ValueError(f"{benchmark_json} holds no 'routings' benchmark (python -m benchmarks --only routings)")
    return {tuple(key.split(", ")): (row["step"]["median_ms"], row["ratio_to_cnn"])
            for key, row in found["settings"].items()}


def main(argv=None):
    """``python -m capsule_lesson.routing_family [RECORDS]``: print the MNIST comparison table (the README's)."""
    parser = argparse.ArgumentParser(prog="python -m capsule_lesson.routing_family", description=main.__doc__)
    parser.add_argument("records", nargs="?", default=str(FAMILY_RECORDS))
    args = parser.parse_args(argv)
    print(family_table(family_rows(args.records)))


if __name__ == "__main__":
    main()


def rule_curves(u_hat, max_routings=30, squash="su"):
    """For each update rule: coupling entropy and ||v_r - v_{r-1}|| for r = 1..max_routings.

    One run of ``max_routings`` iterations contains every shorter run as its beginning, so
    ``c_history[r - 1]`` and ``v_history[r - 1]`` are the couplings and output of an r-routing layer
    (true for the article's loop, which uses the same squash in every iteration).
    Returns ``{update: (entropy, change)}``; ``change[0]`` is NaN (there is no v_0).
    """
    curves = {}
    for update in ("replace", "accumulate"):
        result = dynamic_routing(u_hat, routings=max_routings, update=update, squash=squash)
        entropy = np.array([coupling_entropy(c) for c in result.c_history])
        change = np.full(max_routings, np.nan)
        steps = np.diff(result.v_history, axis=0).reshape(max_routings - 1, -1)
        change[1:] = np.linalg.norm(steps, axis=-1)
        curves[update] = (entropy, change)
    return curves
