"""Every training run behind the course's published numbers, as named plans anyone can re-run.

    python -m capsule_lesson.experiments run --plan article --out runs/          # notebooks 06-07
    python -m capsule_lesson.experiments run --plan all --workers 8 --out runs/   # + notebook 08 ablations
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

SEEDS = (0, 1, 2)
SHIPPED_RECORDS = pathlib.Path(__file__).parent / "results" / "records"


def _job(model, seed, dataset="mnist", epochs=None, keep_weights=False, **config):
    epochs = epochs or (20 if model == "cnn" else 10)
    parts = [dataset, model] + [f"{k}-{v}" for k, v in sorted(config.items())] + [f"seed{seed}"]
    return {"name": "_".join(parts), "model": model, "seed": seed, "dataset": dataset,
            "epochs": epochs, "keep_weights": keep_weights, "config": config}


def plan(name):
    """The jobs of a plan, in priority order."""
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
    if name in ("fashion", "all"):
        for seed in SEEDS:
            jobs.append(_job("cnn", seed, dataset="fashion_mnist", keep_weights=seed == 0))
            jobs.append(_job("capsule", seed, dataset="fashion_mnist", keep_weights=seed == 0))
    if name in ("decoder", "all"):
        for seed in SEEDS:
            jobs.append(_job("capsule_decoder", seed, keep_weights=seed == 0, recon_weight=0.0005))
    if not jobs:
        raise ValueError(f"unknown plan {name!r}; choose article, routing, squash, fashion, decoder or all")
    if name == "all":  # the article's runs first, then every study's first seed before its second
        n = len(SEEDS) * 3
        jobs = jobs[:n] + sorted(jobs[n:], key=lambda j: j["seed"])
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


def run(plan_name, out, workers=1, deadline=None, data=None, only=None, epochs=None, train_limit=None,
        rerun=False):
    """Train the plan's jobs not yet done; ``only``/``epochs``/``train_limit`` make a quick smoke run."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done_in = (out,) if rerun else (out, SHIPPED_RECORDS)
    queue = [j for j in plan(plan_name) if not has_record(j, *done_in)][:only]
    start, running, done = time.time(), [], []
    while queue or running:
        for job, proc, log in list(running):
            if proc.poll() is not None:
                running.remove((job, proc, log))
                log.close()
                weights = out / job["name"] / "model.weights.h5"
                if not job["keep_weights"] and weights.exists():
                    weights.unlink()  # the record keeps its hash; only shipped weights are kept
                done.append((job["name"], proc.returncode))
                print(f"[{time.time() - start:6.0f}s] {job['name']}: exit {proc.returncode}", flush=True)
        late = deadline is not None and time.time() - start > deadline
        while queue and len(running) < workers and not late:
            job = queue.pop(0)
            (out / job["name"]).mkdir(parents=True, exist_ok=True)
            log = open(out / job["name"] / "train.log", "w")
            proc = subprocess.Popen(job_command(job, out, data, epochs, train_limit), stdout=log, stderr=subprocess.STDOUT)
            running.append((job, proc, log))
        if late and queue:
            print(f"deadline reached: {len(queue)} jobs not started", flush=True)
            queue = []
        time.sleep(1)
    return done


def load_records(runs):
    """Records from ``runs/<job>/record.json`` (a run folder) or ``records/<job>.json`` (shipped)."""
    runs = pathlib.Path(runs)
    files = sorted(runs.glob("*/record.json")) + sorted(runs.glob("*.json"))
    return [json.loads(p.read_text()) for p in files]


def flatten(record):
    m = record["metrics"]
    row = {"dataset": record["dataset"], "model": record["model"], "seed": record["seed"],
           "epochs": record["epochs"],
           "routings": record["config"].get("routings", ""), "update": record["config"].get("update", ""),
           "squash": record["config"].get("squash", ""),
           "inner_squash": record["config"].get("inner_squash") or "",
           "test_accuracy": m["test_accuracy"], "train_time_s": record["train_time_s"]}
    for layout, acc in m["two_digit"].items():
        row[f"{layout}_top2"] = acc["top2"]
        row[f"{layout}_top2_confident"] = acc["top2_confident"]
    row["reconstruction_sse"] = m.get("reconstruction_sse", "")   # decoder models only
    row["device"] = record.get("device", "")
    row["backend"] = record.get("versions", {}).get("backend", "")
    return row


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


def summarize(runs, out):
    import numpy as np

    rows = [flatten(r) for r in load_records(runs)]
    if not rows:
        raise FileNotFoundError(f"no record.json under {runs}")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keys = ("dataset", "model", "epochs", "routings", "update", "squash", "inner_squash")
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
    import numpy as np

    rows = [flatten(r) for r in load_records(runs) if r["dataset"] == dataset]
    groups = {}
    for row in rows:
        key = (row["model"], row["update"], row["routings"], row["squash"], row["inner_squash"])
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
                                         int(k[2]) if str(k[2]).isdigit() else 0, str(k[3]), k[4]))
    for key in order:
        model, update, routings, squash, inner = key
        group = groups[key]
        test = np.array([r["test_accuracy"] for r in group]) * 100
        test_cell = f"{test.mean():.2f}" + (f" ± {test.std(ddof=1):.2f}" if len(test) > 1 else "")
        routing = f"{update}, r={routings}" if model != "cnn" else "—"
        squash_cell = (squash + (f" (inner: {inner})" if inner else "")) if model != "cnn" else "—"
        lines.append(f"| {model} | {routing} | {squash_cell} | {len(group)} | {test_cell} | "
                     f"{cell(group, 'side_top2')} | {cell(group, 'side_top2_confident')} | "
                     f"{cell(group, 'stacked_top2')} | {cell(group, 'stacked_top2_confident')} | "
                     f"{trained_on(group)} |")
    return "\n".join(lines)


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
    p_run.add_argument("--rerun", action="store_true",
                       help="also retrain jobs whose record is shipped in capsule_lesson/results/records")
    p_sum = sub.add_parser("summarize", help="gather records into CSV tables")
    p_sum.add_argument("runs")
    p_sum.add_argument("--out", default="capsule_lesson/results")
    p_rep = sub.add_parser("report", help="print the Markdown results table")
    p_rep.add_argument("runs", nargs="?", default="capsule_lesson/results/records")
    p_rep.add_argument("--dataset", default="mnist")
    args = parser.parse_args(argv)
    if args.command == "report":
        print(markdown_report(args.runs, args.dataset))
        return
    if args.command == "run":
        done = run(args.plan, args.out, args.workers, args.deadline, args.data, args.only,
                   args.epochs, args.train_limit, args.rerun)
        failed = [name for name, code in done if code != 0]
        print(f"{len(done)} jobs finished, {len(failed)} failed {failed}")
    else:
        print(f"{len(summarize(args.runs, args.out))} runs summarized into {args.out}")


if __name__ == "__main__":
    main()
