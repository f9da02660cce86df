"""The benchmark suite: ``python -m benchmarks [--quick] [--only ITEMS] [--backends ...] [--name NAME]``.

Starts one worker process per backend and task (Keras reads ``KERAS_BACKEND`` at import), executes
the course notebooks, prints the tables (Markdown) and writes everything, with the machine and its
load, to ``benchmarks/results/<name>.json``.
"""

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .course import run_course
from .measure import git_state, linear_fit, load_average, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
KNOBS = ("threads", "channels", "pipeline")
ITEMS = ("models", "layer", "scaling", "profile", "training", "routings") + KNOBS + ("course",)
BACKENDS = ("tensorflow", "jax", "torch")
TARGETS = {"capsule_overhead_max": 1.10, "per_sample_speedup_min": 5.0, "course_total_max_s": 600.0,
           "fast_speedup_min": 2.5, "capsule_10_epochs_max_s": 480.0, "cnn_20_epochs_max_s": 900.0}
MAIN = "capsule_lesson.Capsule"
PER_SAMPLE = "loop per sample (ops.map)"


def log(message):
    print(message, file=sys.stderr, flush=True)


def available(backend):
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    return importlib.util.find_spec(module) is not None


def run_worker(task, backend, quick, timeout):
    """Run ``benchmarks.worker TASK`` under ``backend``; its JSON, or {"error": ...}."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "result.json")
        cmd = [sys.executable, "-m", "benchmarks.worker", task, "--out", str(out)]
        if quick:
            cmd.append("--quick")
        log(f"--- {task} under {backend}")
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        for line in proc.stderr.splitlines():
            if line.startswith("["):            # the worker's progress lines
                log("    " + line)
        if proc.returncode != 0 or not out.exists():
            tail = [line for line in proc.stderr.splitlines() if line.strip()][-5:]
            log(f"    FAILED after {time.perf_counter() - start:.0f} s: {tail[-1] if tail else ''}")
            return {"error": tail}
        return json.loads(out.read_text())


# ---------------------------------------------------------------- tables

def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(summary):
    return f"{summary['median_ms']:.1f}"


def cpu(summary):
    value = summary.get("cpu_median_ms")
    return "" if value is None else f"{value:.1f}"


def both(summary):
    return f"{ms(summary)} / {cpu(summary)}"


def table_models(results):
    rows = []
    for backend, per_task in results.items():
        r = per_task.get("models")
        if r is None:
            continue
        if "error" in r:
            rows.append([backend, "failed", "", "", ""])
            continue
        for name, step in r["step"].items():
            ratio = r["ratio_to_cnn"].get(name)
            cpu_ratio = r.get("cpu_ratio_to_cnn", {}).get(name)
            rows.append([backend, name, f"{r['params'][name]:,}", both(step),
                         "1 (reference)" if ratio is None else f"{ratio:.3f}x / {cpu_ratio:.3f}x"])
    return md_table(["backend", "model", "parameters", "train step, ms: wall / CPU",
                     "÷ its cnn_baseline: wall / CPU"], rows)


def table_layer(results):
    rows = []
    for backend, per_task in results.items():
        r = per_task.get("layer")
        if r is None or "error" in r:
            if r is not None:
                rows.append([backend, "failed", "", "", "", ""])
            continue
        for name, t in r["time"].items():
            speed = r["speedup_of_capsule"].get(name)
            cpu_speed = r.get("cpu_speedup_of_capsule", {}).get(name)
            rows.append([backend, name, both(t["forward"]), both(t["forward+backward"]),
                         "1 (reference)" if speed is None else
                         f"{speed['forward+backward']:.1f}x / {cpu_speed['forward+backward']:.1f}x",
                         f"{r['max_abs_diff_to_capsule'][name]:.1e}"])
    return md_table(["backend", "routing layer", "forward, ms: wall / CPU",
                     "forward+backward, ms: wall / CPU", "Capsule faster by (fwd+bwd): wall / CPU",
                     "max abs difference in v"], rows)


def table_scaling(results):
    out = []
    for backend, per_task in results.items():
        r = per_task.get("scaling")
        if r is None or "error" in r:
            continue
        for sweep, label in (("n_in", "input capsules"), ("routings", "routings")):
            s = r[sweep]
            fixed = ", ".join(f"{k} {v}" for k, v in s["fixed"].items())
            names = list(s["rows"])
            has_xla = "xla_temp_mib" in s["rows"][names[0]][0]
            header = [label]
            for name in names:
                header += [f"{name}: ms wall / CPU"] + (["XLA temp MiB"] if has_xla else ["peak RSS +MiB"])
            rows = []
            for i, x in enumerate(row["x"] for row in s["rows"][names[0]]):
                row = [x]
                for name in names:
                    p = s["rows"][name][i]
                    row += [both(p["forward+backward"]),
                            p["xla_temp_mib"] if has_xla else p["peak_rss_growth_mib"]]
                rows.append(row)
            fit_row = ["fit"]
            for name in names:
                f = s["fit"][name]
                fit_row += [f"CPU: {f['cpu_slope_ms_per_unit']:.3g} ms/unit, R²={f['cpu_r2']:.3f}",
                            (f"{f['xla_temp_mib_slope']:.3g} MiB/unit, R²={f['xla_temp_mib_r2']:.3f}"
                             if has_xla else "")]
            rows.append(fit_row)
            out.append(f"**{backend}, forward+backward vs {label}** ({fixed})\n\n" + md_table(header, rows))
    return "\n\n".join(out)


def table_profile(results):
    r = results.get("tensorflow", {}).get("profile")
    if r is None or "error" in r:
        return ""
    parts = []
    rows = []
    for model in ("cnn_baseline", "capsule_model"):
        m = r[model]
        total = m["total_op_ms"]
        for layer, t in m["by_layer_ms"].items():
            rows.append([model, layer, f"{t:.1f}", f"{100 * t / total:.1f}%"])
    parts.append(md_table(["model", "layer", "op time per step, ms", "share"], rows))
    m = r["capsule_model"]
    rows = [[op, f"{t:.2f}"] for op, t in list(m["head_ops_ms"].items())[:15]]
    parts.append("Capsule head ops (tensorflow), the 15 slowest:\n\n"
                 + md_table(["op (pass: scope (type))", "ms per step"], rows))
    return "\n\n".join(parts)


def table_course(course):
    def status(r):
        text = "ok" if r["ok"] else "FAILED"
        if "first_try" in r:
            text += f" (first try stalled, {r['first_try']['seconds']:.0f} s, not counted)"
        return text
    rows = [[r["notebook"], f"{r['seconds']:.1f}", status(r)] for r in course["notebooks"]]
    rows.append(["**total**", f"**{course['total_s']:.1f}**", "ok" if course["all_ok"] else "FAILED"])
    return md_table(["notebook", "wall time, s", "status"], rows)


def table_training(results):
    rows, steps = [], 469
    for backend, per_task in results.items():
        r = per_task.get("training")
        if r is None:
            continue
        if "error" in r:
            rows.append([backend, "failed"] + [""] * 6)
            continue
        steps = r["steps_per_epoch"]
        for key, row in r["settings"].items():
            name, setting = key.split(", ", 1)
            rows.append([backend, name, setting, both(row["step"]), f"{row['epoch_s']:.0f}",
                         f"{1 / row['ratio_to_float32']:.2f}x",
                         f"{row['ratio_to_cnn']:.2f}" if "ratio_to_cnn" in row else "",
                         f"{row['achieved_gflops']:.0f} ({100 * row['fraction_of_matmul']:.0f} %)"])
    return md_table(["backend", "model", "setting", "train step, ms: wall / CPU",
                     f"s / epoch ({steps} steps)", "speed-up vs float32", "capsule ÷ cnn (same setting)",
                     "achieved GFLOP/s (% of a 2048³ matmul in that dtype)"], rows)


def table_routings(results):
    rows = []
    for backend, per_task in results.items():
        r = per_task.get("routings")
        if r is None:
            continue
        if "error" in r:
            rows.append([backend, "failed", "", "", ""])
            continue
        for key, row in r["settings"].items():
            name, precision = key.split(", ")
            rows.append([backend, name, precision, both(row["step"]), f"{row['ratio_to_cnn']:.2f}"])
    return md_table(["backend", "model", "precision", "train step, ms: wall / CPU", "÷ CNN (same precision)"], rows)


def table_knobs(results):
    """Threads, channels order and input pipeline: one table, a row per measured setting."""
    rows = []
    for backend, per_task in results.items():
        r = dict(per_task.get("knobs", {}))       # runs before the three were items of their own
        if "error" in r:
            rows.append([backend, "knobs: failed", "", "", "", ""])
        for task in KNOBS:
            if task in per_task and "error" in per_task[task]:
                rows.append([backend, f"{task}: failed", "", "", "", ""])
            elif task in per_task:
                r[task] = per_task[task][task]
        for name, row in r.get("threads", {}).items():
            setting, model = name.split("|")
            rows.append([backend, "threads", setting, model, both(row["step"]),
                         f"{row['ratio_to_default']:.2f} (÷ TensorFlow's default)"])
        for key, row in r.get("channels", {}).items():
            order, model = key.split(", ", 1)
            if "error" in row:
                rows.append([backend, "channels order", order, model, "fails", row["error"]])
            else:
                rows.append([backend, "channels order", order, model, both(row["step"]),
                             f"{row['ratio_to_channels_last']:.2f} (÷ channels last)"])
        for key, row in r.get("pipeline", {}).items():
            base = "the same batches" if key.startswith("canvas") else "one fixed batch"
            timing = both(row["step"]) if "whole_call_per_step" not in row else \
                f"{ms(row['step'])} steady (whole call: {both(row['whole_call_per_step'])})"
            rows.append([backend, "input pipeline", key, "capsule, mixed_bfloat16", timing,
                         f"{row['ratio_to_train_on_batch']:.2f} (÷ train_on_batch, {base})"])
    return md_table(["backend", "knob", "setting", "train step of", "ms per step: wall / CPU", "ratio (per round)"],
                    rows)


def training_note(results):
    notes = []
    for backend, per_task in results.items():
        r = per_task.get("training")
        if r and "error" not in r:
            rates = ", ".join(f"{dtype} {rate:.0f}" for dtype, rate in r["matmul_gflops"].items())
            notes.append(f"{backend}: one train step is {r['train_step_gflop']:.1f} GFLOP "
                         f"({r['trunk_macs_per_image'] / 1e6:.1f} M multiply-adds per image in the trunk's forward "
                         f"pass, x 2 FLOPs, x 3 for forward + backward, x {r['batch']} images); a 2048³ matrix "
                         f"product runs at {rates} GFLOP/s.")
    return " ".join(notes)


def verdicts(report):
    res, out = report["results"], {}
    tf_models = res.get("tensorflow", {}).get("models", {})
    limit = TARGETS["capsule_overhead_max"]
    if "ratio_to_cnn" in tf_models:
        ratio = tf_models["ratio_to_cnn"]["capsule_model"]
        cpu_ratio = tf_models["cpu_ratio_to_cnn"]["capsule_model"]
        out["1. capsule_model / cnn_baseline train step (tensorflow)"] = (
            f"wall {ratio:.3f}x ({'met' if ratio <= limit else 'NOT met'}), "
            f"CPU {cpu_ratio:.3f}x ({'met' if cpu_ratio <= limit else 'NOT met'}); target ≤ {limit:.2f}x")
    for backend, per_task in res.items():
        layer = per_task.get("layer", {})
        if "speedup_of_capsule" in layer:
            low = TARGETS["per_sample_speedup_min"]
            s = layer["speedup_of_capsule"][PER_SAMPLE]["forward+backward"]
            c = layer["cpu_speedup_of_capsule"][PER_SAMPLE]["forward+backward"]
            out[f"2. Capsule vs per-sample loop, fwd+bwd ({backend})"] = (
                f"wall {s:.1f}x ({'met' if s >= low else 'NOT met'}), "
                f"CPU {c:.1f}x ({'met' if c >= low else 'NOT met'}); target ≥ {low:.0f}x")
    for backend, per_task in res.items():
        sc = per_task.get("scaling", {})
        for sweep in ("n_in", "routings"):
            if sweep in sc:
                f = sc[sweep]["fit"][MAIN]
                rows = sc[sweep]["rows"][MAIN]
                xs = [math.log(row["x"]) for row in rows]
                ys = [math.log(row["forward+backward"]["cpu_median_ms"]) for row in rows]
                exponent = linear_fit(xs, ys)[1]
                # linear: a straight line explains the CPU times (R² ≥ 0.95) and, over the whole
                # sweep of input capsules, time grows like n^p with p ≤ 1.25 (quadratic: p = 2).
                # Routings start at a different cost (r = 1 has no agreement step), so only R².
                linear = f["cpu_r2"] >= 0.95 and (sweep == "routings" or exponent <= 1.25)
                out[f"4. time vs {sweep} ({backend})"] = (
                    f"CPU slope {f['cpu_slope_ms_per_unit']:.3g} ms per unit, R²={f['cpu_r2']:.3f}"
                    + (f", growth exponent {exponent:.2f} over the sweep" if sweep == "n_in" else "")
                    + ": " + ("linear" if linear else "NOT linear"))
    tf_training = res.get("tensorflow", {}).get("training", {}).get("settings", {})
    if tf_training:
        for name, epochs, limit in (("capsule", 10, TARGETS["capsule_10_epochs_max_s"]),
                                    ("cnn", 20, TARGETS["cnn_20_epochs_max_s"])):
            epoch_s, key = min((row["epoch_s"], key) for key, row in tf_training.items()
                               if key.startswith(name + ","))
            speedup = 1 / tf_training[key]["ratio_to_float32"]
            fast_enough = speedup >= TARGETS["fast_speedup_min"]
            out[f"6. {name}, {epochs} epochs in the fastest setting ({key}, tensorflow)"] = (
                f"{epochs * epoch_s / 60:.1f} min of train steps (target ≤ {limit / 60:.0f} min: "
                f"{'met' if epochs * epoch_s <= limit else 'NOT met'}), {speedup:.2f}x float32 (target ≥ "
                f"{TARGETS['fast_speedup_min']}x: {'met' if fast_enough else 'NOT met'}); "
                "the training script's record is the measurement that counts")
    course = report.get("course")
    if course:
        out["5. whole course"] = (f"{course['total_s']:.0f} s (target ≤ {TARGETS['course_total_max_s']:.0f} s)"
                                  + (": met" if course["total_s"] <= TARGETS["course_total_max_s"]
                                     and course["all_ok"] else ": NOT met"))
    return out


def render(report):
    m = report["machine"]
    v = m["versions"]
    lines = [f"# Capsule Lesson benchmarks: {report['name']}", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, {m['os']}; "
             + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
             f"Load average (1/5/15 min) before: {report['load_average_before']}, "
             f"after: {report['load_average_after']}. "
             "Each figure: the median of the rounds after a warm-up; ratios are taken per round "
             "(both measured back to back), then the median. Wall = elapsed time; CPU = CPU time of the "
             "measuring process, all threads (on a shared machine it leaves out the waits for a core).", ""]
    res = report["results"]
    if any("models" in r for r in res.values()):
        lines += ["## 1 + 3. Train step, batch 128, 28×28 (capsule head overhead; backends)", "",
                  table_models(res), ""]
    if any("layer" in r for r in res.values()):
        shape = next(r["layer"]["shape"] for r in res.values() if "shape" in r.get("layer", {}))
        lines += [f"## 2. The routing layer alone ({shape['batch']} × {shape['n_in']} capsules of "
                  f"{shape['input_dim']} -> {shape['num_capsule']} × {shape['dim_capsule']}, "
                  f"{shape['routings']} routings)", "", table_layer(res), ""]
    if any("scaling" in r for r in res.values()):
        lines += ["## 4. Scaling", "", table_scaling(res), ""]
    prof = table_profile(res)
    if prof:
        lines += ["## Where a train step's time goes (tensorflow profiler, op time summed over threads)",
                  "", prof, ""]
    if any("routings" in r for r in res.values()):
        lines += ["## 7. Routing rules: train step of the capsule model with each routing, against the CNN", "",
                  table_routings(res), ""]
    if any("training" in r for r in res.values()):
        lines += ["## 6. Training settings: precision and compilation, both models", "", table_training(res), "",
                  training_note(res), ""]
    if any(task in r for r in res.values() for task in ("knobs",) + KNOBS):
        lines += ["## 8. Threads, channels order and the input pipeline (batch 128)", "", table_knobs(res), ""]
    if report.get("course"):
        c = report["course"]
        lines += ["## 5. The course: every notebook, quick path (on the test sets bundled with the package, "
                  f"CAPSULE_LESSON_DATA {'set' if c['capsule_lesson_data_set'] else 'not set'})", "",
                  table_course(c), ""]
    lines += ["## Targets", ""] + [f"- {k}: {val}" for k, val in report["verdicts"].items()]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sweeps (minutes)")
    parser.add_argument("--only", default=",".join(ITEMS),
                        help=f"comma-separated items to run, from {','.join(ITEMS)} (default: all)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated Keras backends for items 1-3 (default: all that import)")
    parser.add_argument("--name", help="results file name (default: date and time)")
    parser.add_argument("--worker-timeout", type=int, default=1800, help="seconds per worker process")
    parser.add_argument("--render", metavar="JSON", help="only print the tables of a saved results file")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(Path(args.render).read_text())
        report["verdicts"] = verdicts(report)
        print(render(report))
        return 0
    items = [i for i in args.only.split(",") if i]
    unknown = set(items) - set(ITEMS)
    if unknown:
        parser.error(f"unknown items {sorted(unknown)}; choose from {','.join(ITEMS)}")
    backends = [b for b in args.backends.split(",") if b]
    skipped = {b: "not installed" for b in backends if not available(b)}
    backends = [b for b in backends if b not in skipped]

    started = dt.datetime.now(dt.timezone.utc)
    name = args.name or started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    report = {"name": name, "quick": args.quick, "items": items,
              "command": " ".join(["python -m benchmarks", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]),
              "started_utc": started.isoformat(timespec="seconds"),
              "machine": machine(), "git": git_state(ROOT),
              "load_average_before": load_average(), "backends_skipped": skipped, "results": {}}
    log(f"benchmarks {name}: items {items}, backends {backends}, load {report['load_average_before']}")
    tasks = []
    for backend in backends:                      # item 1 (tensorflow) and item 3 (every backend)
        tasks += [(t, backend) for t in ("models", "layer") if t in items]
    if "scaling" in items:
        tasks += [("scaling", b) for b in ("tensorflow", "jax") if b in backends]
    if "profile" in items and "tensorflow" in backends:
        tasks.append(("profile", "tensorflow"))
    tasks += [("training", b) for b in backends if "training" in items]
    if "routings" in items and "tensorflow" in backends:
        tasks.append(("routings", "tensorflow"))
    tasks += [(task, b) for task in KNOBS if task in items for b in backends
              if task != "threads" or b == "tensorflow"]   # thread pools: TensorFlow's
    for task, backend in tasks:
        result = run_worker(task, backend, args.quick, args.worker_timeout)
        report["results"].setdefault(backend, {})[task] = result
    if "course" in items:
        log("--- course notebooks")
        report["course"] = run_course(ROOT / "notebooks", log=log)
    report["load_average_after"] = load_average()
    report["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    report["verdicts"] = verdicts(report)
    text = render(report)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    log(f"wrote {path.relative_to(ROOT)}")
    failed = [f"{b}/{t}" for b, per in report["results"].items() for t, r in per.items() if "error" in r]
    if failed:
        log(f"failed workers: {failed}")
    return 1 if failed else 0
