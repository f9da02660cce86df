"""Training records as rows: load the ``record.json`` files the training script writes, flatten them into one
dict per run, and select the runs of one configuration. Every table and figure of results starts here.
"""

import json
import pathlib


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
           precision="float32", routing="dynamic"):
    """The rows (:func:`flatten`) of one configuration, sorted by seed (capsule keys are ignored for the CNN)."""
    def match(r):
        if r["dataset"] != dataset or r["model"] != model or r.get("precision", "float32") != precision:
            return False
        if model != "capsule":
            return True
        return ((r.get("routing") or "dynamic") == routing and str(r["routings"]) == str(routings)
                and r["update"] == update and r["squash"] == squash
                and (r["inner_squash"] or "") == (inner_squash or ""))
    return sorted((r for r in rows if match(r)), key=lambda r: r["seed"])


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
