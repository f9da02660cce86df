"""The capsule layer of this checkout against the layer of an earlier commit, timed in one process, interleaved.

    python -m benchmarks.against_commit 380c2c2          # prints a table, writes benchmarks/results/<name>.json

A change to the layer must not slow it down: both layers get the same weights and inputs, every round times
each of them back to back, in a shuffled order (the layer alone, forward and forward + backward, and the whole
capsule model's train step in float32 and mixed bfloat16), and each ratio is the median of the per-round ratios.
A second, separately built copy of today's layer is timed the same way: its ratio to the first ("now again ÷
now", ideally 1) shows how large a difference the measurement itself makes. Under TensorFlow it also says
whether the two layers' forward graphs are the same, op for op.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import types
from pathlib import Path

import keras

from capsule_lesson import Capsule, CapsuleLength, capsule_model
from capsule_lesson.layers import FeatureMapToCapsules
from capsule_lesson.models import compile_for_article, conv_trunk
from capsule_lesson.precision import dtype_policy

from .measure import interleaved_times, machine, paired_ratio, summary
from .suite import md_table
from .worker import (BATCH, DIM_CAPSULE, INPUT_DIM, N_IN, NUM_CAPSULE, ROUTINGS, batch_of_digits, layer_callables,
                     layer_input, make_layer)

ROOT = Path(__file__).resolve().parent.parent
AGAIN = "now again"
#: Calls per timed sample (a few milliseconds each are at the mercy of the scheduler); the table is per call.
LAYER_CALLS, STEP_CALLS = 20, 3


def repeated(fn, calls):
    def run():
        for _ in range(calls):
            fn()
    run.calls = calls
    return run


def capsule_class_at(commit):
    """``Capsule`` as ``capsule_lesson/layers.py`` defined it at ``commit`` (its imports resolve to today's
    package), without registering it with Keras in place of today's class."""
    source = subprocess.run(["git", "show", f"{commit}:capsule_lesson/layers.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"capsule_lesson._layers_at_{commit}")
    module.__package__ = "capsule_lesson"
    register = keras.saving.register_keras_serializable
    keras.saving.register_keras_serializable = lambda **kwargs: (lambda cls: cls)
    try:
        exec(compile(source, f"{commit}:capsule_lesson/layers.py", "exec"), module.__dict__)
    finally:
        keras.saving.register_keras_serializable = register
    return module.Capsule


def same_forward_graph(layer_a, layer_b, u):
    """Under TensorFlow: are the traced forward graphs of two layers the same op for op (types, einsum
    equations, input shapes)? None under another backend."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf   # only under its own backend

    def ops_of(layer):
        graph = tf.function(lambda x: layer(x)).get_concrete_function(tf.constant(u)).graph
        return [(op.type, op.get_attr("equation") if op.type == "Einsum" else None,
                 [tuple(i.shape.as_list()) for i in op.inputs]) for op in graph.get_operations()]
    return ops_of(layer_a) == ops_of(layer_b)


def model_with(capsule_cls):
    inputs = keras.Input((None, None, 1), name="image")
    x = FeatureMapToCapsules(name="to_capsules")(conv_trunk(inputs))
    x = capsule_cls(NUM_CAPSULE, DIM_CAPSULE, routings=ROUTINGS, name="digit_capsules")(x)
    return compile_for_article(keras.Model(inputs, CapsuleLength(name="scores", dtype="float32")(x)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.against_commit", description=__doc__.split("\n\n")[0])
    parser.add_argument("commit")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    old_capsule = capsule_class_at(args.commit)
    keras.utils.set_random_seed(0)
    u = layer_input(BATCH, N_IN)
    new_layer = make_layer(Capsule)
    old_layer = make_layer(old_capsule, weights=new_layer.get_weights())
    again_layer = make_layer(Capsule, weights=new_layer.get_weights())
    same_graph = same_forward_graph(new_layer, old_layer, u)
    if same_graph is not None:
        print(f"forward graphs of the two layers op for op the same: {same_graph}", file=sys.stderr)
    fns = {}
    for who, layer in (("now", new_layer), (AGAIN, again_layer), (args.commit, old_layer)):
        fwd, fwd_bwd = layer_callables(layer, u)
        fns[f"layer | forward | {who}"] = repeated(fwd, LAYER_CALLS)
        fns[f"layer | forward+backward | {who}"] = repeated(fwd_bwd, LAYER_CALLS)
    x, y = batch_of_digits()
    for precision in ("float32", "mixed_bfloat16"):
        for who, build in (("now", lambda: capsule_model()), (AGAIN, lambda: capsule_model()),
                           (args.commit, lambda: model_with(old_capsule))):
            keras.utils.set_random_seed(0)
            with dtype_policy(precision):
                model = build()
            fns[f"train step {precision} | model | {who}"] = repeated(lambda m=model: m.train_on_batch(x, y), STEP_CALLS)
    times, cpu = interleaved_times(fns, warmup=2, repeats=args.repeats, shuffle_seed=0)
    for key, fn in fns.items():   # per call
        times[key] = [t / fn.calls for t in times[key]]
        cpu[key] = [t / fn.calls for t in cpu[key]]
    rows, result = [], {}
    for key in fns:
        what, part, who = key.split(" | ")
        if who != "now":
            continue
        old_key = f"{what} | {part} | {args.commit}"
        again_key = f"{what} | {part} | {AGAIN}"
        ratio = paired_ratio(times, key, old_key)
        control = paired_ratio(times, again_key, key)
        result[f"{what} | {part}"] = {"now": summary(times[key], cpu[key]),
                                      args.commit: summary(times[old_key], cpu[old_key]), "ratio_now_to_old": ratio,
                                      "ratio_now_again_to_now": control}
        rows.append([f"{what}, {part}", f"{summary(times[key], cpu[key])['median_ms']:.1f}",
                     f"{summary(times[old_key], cpu[old_key])['median_ms']:.1f}", f"{ratio:.3f}", f"{control:.3f}"])
    print(md_table(["what (batch 128, 64 capsules of 128 -> 10 x 16, 3 routings)", "now, ms", f"{args.commit}, ms",
                    "now ÷ then (median of per-round ratios)", "control: now again ÷ now"], rows))
    started = dt.datetime.now(dt.timezone.utc)
    name = f"against-{args.commit}-{started.strftime('%Y%m%d-%H%M%S')}"
    report = {"name": name, "command": "python -m benchmarks.against_commit " + " ".join(argv or sys.argv[1:]),
              "machine": machine(), "repeats": args.repeats, "input_dim": INPUT_DIM,
              "same_forward_graph": same_graph, "results": result}
    path = ROOT / "benchmarks" / "results" / f"{name}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
