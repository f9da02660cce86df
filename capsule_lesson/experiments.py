"""Every training run behind the course's published numbers, as named plans anyone can re-run.

    python -m capsule_lesson.experiments run --plan article --out runs/          # notebooks 07-08
    python -m capsule_lesson.experiments run --plan all --workers 8 --out runs/   # + the ablations of notebooks 09-11
    python -m capsule_lesson.experiments summarize runs/ --out capsule_lesson/results/
    python -m capsule_lesson.experiments summarize capsule_lesson/results/records --out capsule_lesson/results
    python -m capsule_lesson.experiments report      # the README's results table, in Markdown

``run`` trains each job with :func:`capsule_lesson.train.train` (one ``record.json`` per job, in
``runs/<job name>/``), several jobs at once in separate processes, skipping jobs already done (a record in
``runs/`` or shipped in ``capsule_lesson/results/records``; ``--rerun`` retrains those too);
``--deadline`` stops starting new jobs after that many seconds. ``summarize`` gathers the records into
``runs.csv`` (one row per run) and ``summary.csv`` (mean and std over seeds per configuration).
"""

import argparse
import csv
import json
import pathlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .precision import PRECISIONS, resolve_precision
from .records import flatten, hardware, load_records, select, trained_on  # noqa: F401  (notebooks import them here)
from .statistics import compare_seeds, mean_std
from .pretrained import PRETRAINED_DIR

SEEDS = (0, 1, 2)
SHIPPED_RECORDS = pathlib.Path(__file__).parent / "results" / "records"
#: Records of the article's recipe trained in mixed bfloat16, kept apart from the float32 studies above.
PRECISION_RECORDS = pathlib.Path(__file__).parent / "results" / "precision"


def _job(model, seed, dataset="mnist", epochs=None, keep_weights=False, **config):
    epochs = epochs or (20 if model == "cnn" else 10)
    parts = [dataset, model] + [f"{k}-{v}" for k, v in sorted(config.items())] + [f"seed{seed}"]
    return {"name": "_".join(parts), "model": model, "seed": seed, "dataset": dataset,
            "epochs": epochs, "keep_weights": keep_weights, "config": config}


def plan(name, precision="float32"):
    """The jobs of a plan, in priority order; another ``precision`` than float32 is a setting of its own
    (its own job names, records and summary rows)."""
    jobs = []
    if name in ("article", "all"):
        for seed in SEEDS:
            jobs.append(_job("cnn", seed, keep_weights=seed == 0))
            jobs.append(_job("capsule", seed, keep_weights=seed == 0, routings=3, update="replace"))
            jobs.append(_job("capsule", seed, keep_weights=seed == 0, routings=3, update="accumulate"))
    if name in ("routing", "all"):
        for seed in SEEDS:
            for routings in (1, 2, 5, 10):
                for update in ("replace", "accumulate"):
                    jobs.append(_job("capsule", seed, routings=routings, update=update))
    if name in ("squash", "all"):
        for seed in SEEDS:
            for squash in ("hinton", "tanh", "exp", "rational", "none"):
                jobs.append(_job("capsule", seed, squash=squash))
            for inner in ("unit", "none"):
                jobs.append(_job("capsule", seed, inner_squash=inner))
    if name == "routing_family":   # routing is clustering: the article's rule beside k-means, EM and none
        for seed in SEEDS:
            for routing in ("dynamic", "kmeans", "em", "uniform"):
                jobs.append(_job("capsule", seed, keep_weights=True, routing=routing,
                                 routings=1 if routing == "uniform" else 3))
    if name in ("fashion", "all"):
        for seed in SEEDS:
            jobs.append(_job("cnn", seed, dataset="fashion_mnist", keep_weights=seed == 0))
            jobs.append(_job("capsule", seed, dataset="fashion_mnist", keep_weights=seed == 0))
    if name in ("decoder", "all"):
        for seed in SEEDS:
            jobs.append(_job("capsule_decoder", seed, keep_weights=seed == 0, recon_weight=0.0005))
    if not jobs:
        raise ValueError(f"unknown plan {name!r}; choose article, routing, squash, fashion, decoder, all "
                         "or routing_family")
    if name == "all":  # the article's runs first, then every study's first seed before its second
        n = len(SEEDS) * 3
        jobs = jobs[:n] + sorted(jobs[n:], key=lambda j: j["seed"])
    if precision != "float32":
        jobs = [_job(j["model"], j["seed"], j["dataset"], j["epochs"], j["keep_weights"], **j["config"],
                     precision=precision) for j in jobs]
    return jobs


def job_command(job, out, data=None, epochs=None, train_limit=None):
    cmd = [sys.executable, "-m", "capsule_lesson.train", "--model", job["model"],
           "--dataset", job["dataset"], "--epochs", str(epochs or job["epochs"]), "--seed", str(job["seed"]),
           "--out", str(pathlib.Path(out) / job["name"]), "--verbose", "2"]
    for key, value in job["config"].items():
        cmd += ["--" + key.replace("_", "-"), str(value)]
    if data:
        cmd += ["--data", data]
    if train_limit:
        cmd += ["--train-limit", str(train_limit)]
    return cmd


def has_record(job, *folders):
    """Whether ``job`` has a record in one of ``folders``: ``<job>.json`` (shipped) or ``<job>/record.json``."""
    return any((pathlib.Path(f) / f"{job['name']}.json").exists()
               or (pathlib.Path(f) / job["name"] / "record.json").exists() for f in folders)


def train_job(job, out, data=None, epochs=None, train_limit=None):
    """Train one job in its own process (log in ``<out>/<job>/train.log``); returns its exit code."""
    folder = pathlib.Path(out) / job["name"]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.log", "w") as log:
        code = subprocess.run(job_command(job, out, data, epochs, train_limit), stdout=log,
                              stderr=subprocess.STDOUT).returncode
    weights = folder / "model.weights.h5"
    if not job["keep_weights"] and weights.exists():
        weights.unlink()  # the record keeps its hash; only shipped weights are kept
    return code


def run(plan_name, out, workers=1, deadline=None, data=None, only=None, epochs=None, train_limit=None,
        rerun=False, precision="float32"):
    """Train the plan's jobs not yet done, ``workers`` at a time; returns ``[(job name, exit code)]``
    (code None: not started, the ``deadline`` in seconds had passed). ``only``/``epochs``/``train_limit``
    make a quick smoke run."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done_in = (out,) if rerun else (out, SHIPPED_RECORDS, PRECISION_RECORDS)
    if precision == "auto":   # name the jobs after the precision they will really train in
        precision = resolve_precision("auto")[0]
    queue = [j for j in plan(plan_name, precision) if not has_record(j, *done_in)][:only]
    start = time.time()

    def attempt(job):
        if deadline is not None and time.time() - start > deadline:
            return None
        code = train_job(job, out, data, epochs, train_limit)
        print(f"[{time.time() - start:6.0f}s] {job['name']}: exit {code}", flush=True)
        return code

    with ThreadPoolExecutor(max_workers=workers) as pool:   # threads only wait: each job is its own process
        codes = list(pool.map(attempt, queue))
    if None in codes:
        print(f"deadline reached: {codes.count(None)} jobs not started", flush=True)
    return [(job["name"], code) for job, code in zip(queue, codes)]


def summarize(runs, out):
    rows = [flatten(r) for r in load_records(runs)]
    if not rows:
        raise FileNotFoundError(f"no record.json under {runs}")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keys = ("dataset", "model", "routing", "epochs", "routings", "update", "squash", "inner_squash", "precision")
    metrics = [k for k in rows[0] if k not in keys + ("seed", "device", "backend")]
    with open(out / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys + ("seed",))))
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    with open(out / "summary.csv", "w", newline="") as f:
        fields = list(keys) + ["seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for key, group in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
            summary = dict(zip(keys, key), seeds=len(group))
            for m in metrics:
                if any(r[m] == "" for r in group):
                    continue
                values = np.array([r[m] for r in group], dtype=float)
                summary[f"{m}_mean"] = round(float(values.mean()), 6)
                summary[f"{m}_std"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 6)
            writer.writerow(summary)
    return rows


#: What the article reports (section 6): top-2 accuracy A and A-with-second-score-above-0.5 B.
ARTICLE_TWO_DIGIT = {"cnn": "≈40% / ≈10%", "capsule": "> 90% / > 90%"}


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m capsule_lesson.experiments")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the jobs of a plan")
    p_run.add_argument("--plan", default="article")
    p_run.add_argument("--out", default="runs")
    p_run.add_argument("--workers", type=int, default=1)
    p_run.add_argument("--deadline", type=float, default=None, help="seconds after which no job starts")
    p_run.add_argument("--data", default=None)
    p_run.add_argument("--only", type=int, default=None, help="smoke run: the first N jobs only")
    p_run.add_argument("--epochs", type=int, default=None, help="smoke run: override every job's epochs")
    p_run.add_argument("--train-limit", type=int, default=None, help="smoke run: first N training images")
    p_run.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="passed to every training run (see python -m capsule_lesson.train --help)")
    p_run.add_argument("--rerun", action="store_true",
                       help="also retrain jobs whose record is shipped in capsule_lesson/results/records")
    p_sum = sub.add_parser("summarize", help="gather records into CSV tables")
    p_sum.add_argument("runs")
    p_sum.add_argument("--out", default="capsule_lesson/results")
    p_rep = sub.add_parser("report", help="print the Markdown results table")
    p_rep.add_argument("runs", nargs="?", default="capsule_lesson/results/records")
    p_rep.add_argument("--dataset", default="mnist")
    p_par = sub.add_parser("parity", help="print the precision parity table (mixed bfloat16 beside float32)")
    p_par.add_argument("runs", nargs="?", default=str(PRECISION_RECORDS))
    args = parser.parse_args(argv)
    if args.command == "report":
        print(markdown_report(args.runs, args.dataset))
        return
    if args.command == "parity":
        print(parity_report(candidate=args.runs))
        return
    if args.command == "run":
        done = run(args.plan, args.out, args.workers, args.deadline, args.data, args.only,
                   args.epochs, args.train_limit, args.rerun, args.precision)
        failed = [name for name, code in done if code not in (0, None)]
        print(f"{len(done)} jobs finished, {len(failed)} failed {failed}")
    else:
        print(f"{len(summarize(args.runs, args.out))} runs summarized into {args.out}")


if __name__ == "__main__":
    main()
