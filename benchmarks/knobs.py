"""The training knobs besides precision: threads, channels order and the input pipeline (item 8).

``python -m benchmarks --only threads,channels,pipeline --backends tensorflow`` runs each in a worker process:

* **threads**: TensorFlow fixes its thread pools when it starts, so every (intra-op, inter-op) setting gets a
  process of its own (``python -m benchmarks.knobs child INTRA INTER``) that builds both models once and then
  times train steps when asked; the parent asks them in turn, round by round in a shuffled order, so only one
  of them computes at a time and each round compares the settings under the same load.
* **channels order**: both models' train step with every layer channels last (Keras's default) against
  channels first.
* **input pipeline**: the capsule model fed the way training feeds it (``model.fit`` on NumPy arrays) against one
  fixed batch (``train_on_batch``, what item 6 times), a ``tf.data`` pipeline, and, for the canvas training of
  notebook 14, its ``PyDataset`` against the same batches given one by one. A step's time is the steady state:
  the median time between two step ends, so what a ``fit`` call does before its first step is left out
  (reported apart, per step, as ``whole_call_per_step``).
"""

import json
import os
import random
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "child":   # thread pools before any op
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[2]))
    tf.config.threading.set_inter_op_parallelism_threads(int(sys.argv[3]))

import capsule_lesson  # noqa: E402  (before keras: quiets TensorFlow's native logging)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from capsule_lesson import Capsule, CapsuleLength, capsule_model, cnn_baseline  # noqa: E402
from capsule_lesson.layers import FeatureMapToCapsules  # noqa: E402
from capsule_lesson.canvas import OneDigitCanvas  # noqa: E402
from capsule_lesson.models import conv_trunk  # noqa: E402
from capsule_lesson.precision import dtype_policy  # noqa: E402

from .measure import interleaved_times, paired_ratio, summary  # noqa: E402

BATCH, SIDE = 128, 28
PRECISIONS = ("float32", "mixed_bfloat16")
#: (intra-op, inter-op) thread settings; 0 lets TensorFlow choose (its default).
THREADS = ((0, 0), (1, 1), (2, 1), (1, 2), (2, 2), (4, 1))
#: The train steps timed under each thread setting.
THREAD_MODELS = {"capsule, mixed_bfloat16": capsule_model, "cnn, mixed_bfloat16": cnn_baseline,
                 "capsule, float32": capsule_model}


def log(*args):
    print(f"[{keras.backend.backend()} knobs]", *args, file=sys.stderr, flush=True)


def digits(n, seed=0, shape=(SIDE, SIDE)):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape, 1), dtype=np.float32)
    y = keras.utils.to_categorical(np.arange(n) % 10, 10).astype("float32")
    return x, y


def compiled(build, precision):
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        model = build(compile=False)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=capsule_lesson.margin_loss())
    return model


# ---------------------------------------------------------------- threads: one process per setting

def child():
    """Build both models in both precisions; on each line ``KEY STEPS`` from stdin, time ``STEPS`` train steps
    of model KEY and answer one JSON line ``{"wall": s, "cpu": s}``."""
    x, y = digits(BATCH)
    models = {key: compiled(build, key.split(", ")[1]) for key, build in THREAD_MODELS.items()}
    for model in models.values():
        for _ in range(2):
            model.train_on_batch(x, y)
    print(json.dumps({"ready": sorted(models)}), flush=True)
    for line in sys.stdin:
        key, steps = line.rsplit(" ", 1)
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(int(steps)):
            models[key].train_on_batch(x, y)
        print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - start_cpu}), flush=True)


def threads(repeats, steps):
    procs = {}
    for intra, inter in THREADS:
        procs[intra, inter] = subprocess.Popen([sys.executable, "-m", "benchmarks.knobs", "child", str(intra), str(inter)],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        keys = None
        for proc in procs.values():
            keys = json.loads(proc.stdout.readline())["ready"]   # each builds and warms up while the others wait
        times = {(t, k): [] for t in procs for k in keys}
        cpu = {(t, k): [] for t in procs for k in keys}
        rng = random.Random(0)
        for _ in range(repeats):
            order = list(times)
            rng.shuffle(order)
            for setting, key in order:
                proc = procs[setting]
                proc.stdin.write(f"{key} {steps}\n")
                proc.stdin.flush()
                answer = json.loads(proc.stdout.readline())
                times[setting, key].append(answer["wall"] / steps)
                cpu[setting, key].append(answer["cpu"] / steps)
    finally:
        for proc in procs.values():
            proc.stdin.close()
            proc.wait(timeout=60)
    named = {f"intra {a}, inter {b}|{k}": v for ((a, b), k), v in times.items()}
    return {name: {"step": summary(times[setting, key], cpu[setting, key]),
                   "ratio_to_default": paired_ratio(named, name, f"intra 0, inter 0|{key}")}
            for name, (setting, key) in zip(named, times)}


# ---------------------------------------------------------------- channels order: both models' full train step

def model_in(data_format, name):
    """``cnn_baseline()`` or ``capsule_model()`` with every layer in ``data_format``; the capsule model turns the
    trunk's channels-first maps back to channels last (one transpose) before they become pixel capsules."""
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        inputs = keras.Input((1, SIDE, SIDE) if data_format == "channels_first" else (SIDE, SIDE, 1))
        x = conv_trunk(inputs)
        if name == "cnn":
            x = keras.layers.Dense(128, activation="relu")(keras.layers.GlobalAveragePooling2D()(x))
            outputs = keras.layers.Dense(10, activation="sigmoid", dtype="float32")(x)
        else:
            if data_format == "channels_first":
                x = keras.layers.Permute((2, 3, 1))(x)
            outputs = CapsuleLength(dtype="float32")(Capsule(10, 16, share_weights=True)(FeatureMapToCapsules()(x)))
        return keras.Model(inputs, outputs)
    finally:
        keras.config.set_image_data_format(previous)


def channels(repeats):
    x, y = digits(BATCH)
    steps, errors = {}, {}
    for data_format in ("channels_last", "channels_first"):
        inputs = np.moveaxis(x, -1, 1).copy() if data_format == "channels_first" else x
        for name in ("cnn", "capsule"):
            for precision in PRECISIONS:
                key = f"{data_format}, {name}, {precision}"
                model = compiled(lambda compile, f=data_format, n=name: model_in(f, n), precision)
                try:
                    model.train_on_batch(inputs, y)
                except Exception as error:   # e.g. a backend without channels-first convolutions on the CPU
                    errors[key] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
                    continue
                steps[key] = (lambda m=model, a=inputs: m.train_on_batch(a, y))
    times, cpu = interleaved_times(steps, warmup=2, repeats=repeats, shuffle_seed=0)
    out = {key: {"step": summary(times[key], cpu[key]),
                 "ratio_to_channels_last": paired_ratio(times, key, key.replace("channels_first", "channels_last"))}
           for key in steps}
    out.update({key: {"error": message} for key, message in errors.items()})
    return out


# ---------------------------------------------------------------- the input pipeline

class StepClock(keras.callbacks.Callback):
    """The time at the end of every train step, of ``fit`` (as a callback) or of a loop (``tick``)."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def tick(self, _=None):
        self.ends.append(time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        self.tick()

    def steady_step(self):
        """The median time between two step ends, from the first step's end on: the steady state, without what
        a call does before its first step (``fit`` builds its iterator, a ``PyDataset`` peeks at batches)."""
        return float(np.median(np.diff(self.ends[1:])))


def pipeline(repeats, steps):
    n = BATCH * steps
    x, y = digits(n)
    canvas = OneDigitCanvas((x[..., 0] * 255).astype(np.uint8), np.arange(n) % 10, BATCH, seed=0)
    canvas_batches = [canvas[i] for i in range(len(canvas))]
    model = compiled(capsule_model, "mixed_bfloat16")
    clock = StepClock()
    feeds = {"train_on_batch, one fixed batch": lambda: [clock.tick(model.train_on_batch(x[:BATCH], y[:BATCH]))
                                                          for _ in range(steps)],
             "fit, NumPy arrays (as training)": lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True,
                                                                  verbose=0, callbacks=[clock]),
             "canvas: fit, PyDataset (as --canvas training)": lambda: model.fit(canvas, epochs=1, shuffle=False,
                                                                                verbose=0, callbacks=[clock]),
             "canvas: train_on_batch, the same batches": lambda: [clock.tick(model.train_on_batch(a, b))
                                                                  for a, b in canvas_batches]}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        data = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(n, seed=0).batch(BATCH)
        data = data.prefetch(tf.data.AUTOTUNE)
        feeds["fit, tf.data (cache, shuffle, prefetch)"] = lambda: model.fit(data, epochs=1, shuffle=False,
                                                                             verbose=0, callbacks=[clock])
    steady = {key: [] for key in feeds}

    def timed(key):
        def run():
            clock.ends = [time.perf_counter()]
            feeds[key]()
            steady[key].append(clock.steady_step())
        return run

    calls, cpu = interleaved_times({key: timed(key) for key in feeds}, warmup=1, repeats=repeats, shuffle_seed=0)
    steady = {key: values[1:] for key, values in steady.items()}   # without the warm-up call
    out = {}
    for key in feeds:
        base = "canvas: train_on_batch, the same batches" if key.startswith("canvas") else \
            "train_on_batch, one fixed batch"
        out[key] = {"step": summary(steady[key]),
                    "whole_call_per_step": summary([t / steps for t in calls[key]], [c / steps for c in cpu[key]]),
                    "ratio_to_train_on_batch": paired_ratio(steady, key, base)}
    return out


def rounds(quick):
    return 3 if quick else 7


def task_threads(quick):
    steps = 3 if quick else 10
    log("threads", [f"{a}/{b}" for a, b in THREADS], f"({rounds(quick)} rounds of {steps} steps)")
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("threads: TensorFlow's thread pools only")
    return {"batch": BATCH, "repeats": rounds(quick), "steps_per_sample": steps, "logical_cpus": os.cpu_count(),
            "threads": threads(rounds(quick), steps)}


def task_channels(quick):
    log("channels order", f"({rounds(quick)} rounds)")
    return {"batch": BATCH, "repeats": rounds(quick), "channels": channels(rounds(quick))}


def task_pipeline(quick):
    steps = 10 if quick else 40
    log("input pipeline", f"({rounds(quick)} rounds of {steps} steps)")
    return {"batch": BATCH, "repeats": rounds(quick), "steps_per_sample": steps, "pipeline": pipeline(rounds(quick), steps)}


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "child":
    child()
