"""Training records as rows: load the ``record.json`` files the training script writes, flatten them into one
dict per run, and select the runs of one configuration. Every table and figure of results starts here.
"""

import csv
import json
import pathlib

import numpy as np

#: The training records shipped with the package: every float32 run behind the published numbers.
SHIPPED_RECORDS = pathlib.Path(__file__).parent / "results" / "records"
#: Records of the article's recipe trained in mixed bfloat16, kept apart from the float32 studies.
PRECISION_RECORDS = pathlib.Path(__file__).parent / "results" / "precision"
#: Records of the capsule model trained with each routing (article's recipe, mixed bfloat16, 3 seeds).
FAMILY_RECORDS = pathlib.Path(__file__).parent / "results" / "routing_family"
#: Records of the fixes of notebook 14 (``--plan calibration``, mixed bfloat16, seeds 0-2).
CALIBRATION_RECORDS = pathlib.Path(__file__).parent / "results" / "calibration"
#: Records of notebook 09's ablations retrained in mixed bfloat16 with every test (``--plan ablations``).
ABLATION_RECORDS = pathlib.Path(__file__).parent / "results" / "ablations"
#: Records of notebook 10's Fashion-MNIST models retrained in mixed bfloat16 with every test (``--plan fashion``),
#: and of notebook 14's calibrated capsule model and the CNN on its canvas (``--plan fashion_calibrated``).
FASHION_RECORDS = pathlib.Path(__file__).parent / "results" / "fashion"
#: Mean and standard deviation over seeds per configuration of the shipped records (``experiments summarize``).
SUMMARY_CSV = pathlib.Path(__file__).parent / "results" / "summary.csv"


def load_records(runs):
    """Records from ``runs/<job>/record.json`` (a run folder) or ``records/<job>.json`` (shipped)."""
    runs = pathlib.Path(runs)
    files = sorted(runs.glob("*/record.json")) + sorted(runs.glob("*.json"))
    return [json.loads(p.read_text()) for p in files]


def flatten(record):
    m = record["metrics"]
    row = {"dataset": record["dataset"], "model": record["model"], "seed": record["seed"],
           "epochs": record["epochs"],
           "routing": record["config"].get("routing", "dynamic") if record["model"] != "cnn" else "",
           "routings": record["config"].get("routings", ""), "update": record["config"].get("update", ""),
           "squash": record["config"].get("squash", ""),
           "inner_squash": record["config"].get("inner_squash") or "",
           "aggregate": record["config"].get("aggregate", "sum") if record["model"] != "cnn" else "",
           "leaky": bool(record["config"].get("leaky", False)) if record["model"] != "cnn" else "",
           "trunk_bias": bool(record["config"].get("trunk_bias", True)),
           "canvas": bool(record["config"].get("canvas", False)),
           "precision": record.get("precision", "float32"),   # records older than the option were float32
           "test_accuracy": m["test_accuracy"], "train_time_s": record["train_time_s"]}
    for layout, acc in m["two_digit"].items():
        row[f"{layout}_top2"] = acc["top2"]
        row[f"{layout}_top2_confident"] = acc["top2_confident"]
    for layout, acc in m["two_digit"].items():   # records older than these metrics leave them blank
        row[f"{layout}_exact_set"] = acc.get("exact_set", "")
        row[f"{layout}_mean_above"] = acc.get("mean_above", "")
    for layout, acc in m.get("one_digit_blank", {}).items():
        row[f"{layout}_blank_top1"] = acc["top1"]
        row[f"{layout}_blank_exactly_one"] = acc["exactly_one"]
    row["reconstruction_sse"] = m.get("reconstruction_sse", "")   # decoder models only
    row["device"] = record.get("device", "")
    row["backend"] = record.get("versions", {}).get("backend", "")
    return row


def select(rows, dataset="mnist", model="capsule", routings=3, update="replace", squash="su", inner_squash="",
           precision="float32", routing="dynamic", aggregate="sum", leaky=False, trunk_bias=True, canvas=False):
    """The rows (:func:`flatten`) of one configuration, sorted by seed (capsule keys are ignored for the CNN)."""
    def flag(value, default):
        return default if value in ("", None) else str(value) == "True"

    def match(r):
        if r["dataset"] != dataset or r["model"] != model or r.get("precision", "float32") != precision:
            return False
        if flag(r.get("trunk_bias"), True) != trunk_bias or flag(r.get("canvas"), False) != canvas:
            return False
        if model != "capsule":
            return True
        return ((r.get("routing") or "dynamic") == routing and str(r["routings"]) == str(routings)
                and r["update"] == update and r["squash"] == squash
                and (r["inner_squash"] or "") == (inner_squash or "")
                and (r.get("aggregate") or "sum") == aggregate and flag(r.get("leaky"), False) == leaky)
    return sorted((r for r in rows if match(r)), key=lambda r: r.get("seed", 0))


def load_summary(path=SUMMARY_CSV):
    """The published summary: one row per configuration with ``seeds`` and ``<metric>_mean`` / ``<metric>_std``
    (numbers as floats; :func:`select` picks a configuration's row)."""
    def number(key, value):
        if key == "seeds":
            return int(value)
        return float(value) if value and key.endswith(("_mean", "_std")) else value

    with open(path, newline="") as f:
        return [{k: number(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def hardware(row):
    """Where a run was trained, in short: ``"GPU, jax"`` or ``"CPU, tensorflow"``."""
    device = row.get("device", "")
    kind = "CPU" if device.startswith("CPU") else "GPU" if device else "?"
    return f"{kind}, {row.get('backend') or '?'}"


def trained_on(rows):
    """Where ``rows`` were trained: ``"GPU, jax"`` if all in one place, else ``"CPU, tensorflow ×1; GPU, jax ×2"``."""
    counts = {}
    for r in rows:
        counts[hardware(r)] = counts.get(hardware(r), 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), "")
    return "; ".join(f"{h} ×{n}" for h, n in sorted(counts.items()))




#: The metrics of a training record (:func:`flatten`), with a readable name.
METRICS = {
    "test_accuracy": "single-digit test accuracy",
    "side_top2": "side by side: accuracy A",
    "side_top2_confident": "side by side: accuracy B",
    "stacked_top2": "stacked: accuracy A",
    "stacked_top2_confident": "stacked: accuracy B",
}


#: The grid of the routing ablation.
ROUTING_COUNTS = (1, 2, 3, 5, 10)


UPDATES = ("replace", "accumulate")


#: The squash ablation's configurations: (output squash, inner squash); "" is "the same as the output".
SQUASH_CONFIGS = (("su", ""), ("hinton", ""), ("tanh", ""), ("exp", ""), ("rational", ""), ("none", ""),
                  ("su", "unit"), ("su", "none"))


def load_rows(records_dir=None):
    """One flat dict per training record (:func:`flatten`), sorted; default: the shipped records."""
    rows = [flatten(r) for r in load_records(records_dir or SHIPPED_RECORDS)]
    return sorted(rows, key=lambda r: (r["dataset"], r["model"], str(r["routings"]), str(r["update"]),
                                       str(r["squash"]), str(r["inner_squash"]), r["seed"]))


def values(rows, metric):
    """``metric`` of each row, as a float array."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return np.array([float(r[metric]) for r in rows], dtype=float)


def routing_grid(rows, metric, dataset="mnist"):
    """``{(update, routings): per-seed values}`` for the article's squash, every cell of the grid."""
    return {(u, r): values(select(rows, dataset, routings=r, update=u), metric)
            for u in UPDATES for r in ROUTING_COUNTS}


def squash_grid(rows, metric, dataset="mnist"):
    """``{(squash, inner_squash): per-seed values}`` at 3 routings with the replace rule."""
    return {(s, i): values(select(rows, dataset, squash=s, inner_squash=i), metric) for s, i in SQUASH_CONFIGS}


def squash_label(squash, inner=""):
    """A short name for a squash configuration."""
    if not inner:
        return squash + (" (article)" if squash == "su" else "")
    return f"{squash}, inner {inner}"


def same_model_gaps(rows, metrics=tuple(METRICS), dataset="mnist"):
    """Runs that train the *same* network twice: with 1 or 2 routing iterations the update rule is
    never applied (the logits are updated once at most, from zero, so b = <u, v> either way).

    Returns ``{(routings, seed): {metric: replace value - accumulate value}}`` for ``routings`` in (1, 2)
    and every seed with a run of each rule; the differences are run-to-run noise of the training hardware.
    """
    gaps = {}
    for r in (1, 2):
        a = {x["seed"]: x for x in select(rows, dataset, routings=r, update="replace")}
        b = {x["seed"]: x for x in select(rows, dataset, routings=r, update="accumulate")}
        for seed in sorted(set(a) & set(b)):
            gaps[r, seed] = {m: float(a[seed][m]) - float(b[seed][m]) for m in metrics}
    return gaps


#: What makes two records the same job: the run's data, model, configuration, precision and seed.
JOB_KEYS = ("dataset", "model", "routing", "routings", "update", "squash", "inner_squash", "aggregate", "leaky",
            "trunk_bias", "canvas", "precision", "epochs", "seed")


def retrained_twice(records_a, records_b, metrics=("test_accuracy", "stacked_top2", "side_top2")):
    """The same job trained in two sets of records (lists of record dicts, e.g. two plans that share a job).

    Returns one dict per job found in both, sorted by model and seed: ``model``, ``seed``, ``cpu`` (the pair of
    processors the records name), ``same_weights`` (equal ``weights_sha256``: the two trainings ended bit-identical)
    and ``gaps`` (``{metric: b - a}``). Raises ValueError when a job appears twice within one set.
    """
    def index(records):
        out = {}
        for record in records:
            key = tuple(str(flatten(record)[k]) for k in JOB_KEYS)
            if key in out:
                raise ValueError(f"the job {dict(zip(JOB_KEYS, key))} has two records in one set")
            out[key] = record
        return out

    a, b = index(records_a), index(records_b)
    pairs = []
    for key in sorted(set(a) & set(b), key=lambda k: (k[1], int(k[-1]))):
        ra, rb = a[key], b[key]
        fa, fb = flatten(ra), flatten(rb)
        pairs.append({"model": fa["model"], "seed": fa["seed"], "cpu": (ra.get("cpu", ""), rb.get("cpu", "")),
                      "same_weights": ra["weights_sha256"] == rb["weights_sha256"],
                      "gaps": {m: float(fb[m]) - float(fa[m]) for m in metrics}})
    return pairs
