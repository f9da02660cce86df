"""One benchmark task in one process: ``python -m benchmarks.worker TASK --out FILE [--quick]``.

The backend is the one ``KERAS_BACKEND`` names (Keras reads it at import), so the suite starts one
worker process per backend and task. Tasks:

* ``models``:  train-step time of ``cnn_baseline()`` and ``capsule_model()`` (batch 128, 28x28).
* ``layer``:   the routing layer alone, forward and forward + backward, against slower formulations.
* ``scaling``: layer time and memory as input capsules (64 -> 4096) and routings (1 -> 10) grow.
* ``profile``: where a train step's time goes, per layer and per op (TensorFlow's profiler).
* ``training``: train steps of both models under each precision (and TensorFlow's ``jit_compile``), the
  epoch time they imply, and the arithmetic they do against a large matrix product's rate (the practical peak).
* ``threads``, ``channels``, ``pipeline``: the knobs besides precision (:mod:`benchmarks.knobs`).
* ``routings``: train steps of the capsule model with each routing (dynamic, k-means, EM, uniform) against
  the CNN's, in float32 and mixed bfloat16.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import capsule_lesson  # noqa: E402  (before keras: quiets TensorFlow's native logging)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from capsule_lesson import Capsule, CapsuleLength, capsule_model, cnn_baseline  # noqa: E402
from capsule_lesson.layers import FeatureMapToCapsules  # noqa: E402
from capsule_lesson.models import compile_for_article, conv_trunk  # noqa: E402
from capsule_lesson.precision import dtype_policy  # noqa: E402
from capsule_lesson.squash import EPSILON  # noqa: E402
from capsule_lesson.timing import layer_callables as tf_layer_callables  # noqa: E402

from .baselines import LAYERS, EinsumCapsule  # noqa: E402
from .measure import PeakRSS, interleaved_times, linear_fit, paired_ratio, summary  # noqa: E402

BACKEND = keras.backend.backend()
BATCH, SIDE = 128, 28
# The capsule head of capsule_model() on 28x28 images: 8x8 = 64 capsules of length 128 -> 10 x 16.
N_IN, INPUT_DIM, NUM_CAPSULE, DIM_CAPSULE, ROUTINGS = 64, 128, 10, 16, 3
MIXED = "capsule_lesson.Capsule, mixed_bfloat16"


def log(*args):
    print(f"[{BACKEND}]", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- train steps (item 1 and 3)

def batch_of_digits():
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, SIDE, SIDE, 1), dtype=np.float32)
    y = keras.utils.to_categorical(np.arange(BATCH) % 10, 10).astype("float32")
    return x, y


def capsule_model_einsum():
    """capsule_model() with a layer that forms every prediction û (same weights, same math)."""
    inputs = keras.Input((None, None, 1), name="image")
    x = FeatureMapToCapsules(name="to_capsules")(conv_trunk(inputs))
    x = EinsumCapsule(NUM_CAPSULE, DIM_CAPSULE, routings=ROUTINGS, name="digit_capsules")(x)
    return compile_for_article(keras.Model(inputs, CapsuleLength(name="scores")(x)))


def with_jit(build):
    model = build(compile=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=capsule_lesson.margin_loss(),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=True)
    return model


def task_models(quick):
    keras.utils.set_random_seed(0)
    builds = {"cnn_baseline": cnn_baseline, "capsule_model": capsule_model}
    if not quick:
        builds["capsule_model, einsum over û"] = capsule_model_einsum
        if BACKEND == "tensorflow":     # JAX always compiles with XLA; torch runs eagerly
            builds["cnn_baseline, jit_compile"] = lambda: with_jit(cnn_baseline)
            builds["capsule_model, jit_compile"] = lambda: with_jit(capsule_model)
    x, y = batch_of_digits()
    models = {name: build() for name, build in builds.items()}
    steps = {name: (lambda m=m: m.train_on_batch(x, y)) for name, m in models.items()}
    repeats = 3 if quick else (9 if BACKEND == "tensorflow" else 5)
    log("train steps:", ", ".join(steps), f"({repeats} rounds)")
    times, cpu = interleaved_times(steps, warmup=2, repeats=repeats)
    out = {"batch": BATCH, "image": [SIDE, SIDE], "repeats": repeats, "warmup": 2,
           "params": {name: int(m.count_params()) for name, m in models.items()},
           "step": {name: summary(times[name], cpu[name]) for name in times},
           "ratio_to_cnn": {}, "cpu_ratio_to_cnn": {}}
    for name in times:
        if name.startswith("capsule_model"):
            base = "cnn_baseline, jit_compile" if name.endswith("jit_compile") else "cnn_baseline"
            out["ratio_to_cnn"][name] = paired_ratio(times, name, base)
            out["cpu_ratio_to_cnn"][name] = paired_ratio(cpu, name, base)
    return out


# ---------------------------------------------------------------- the layer alone (item 2, 4)

def layer_input(batch, n_in, seed=0):
    # Non-negative like the ReLU feature maps the layer sees in capsule_model().
    return np.random.default_rng(seed).random((batch, n_in, INPUT_DIM), dtype=np.float32)


def make_layer(cls, routings=ROUTINGS, n_in=N_IN, weights=None):
    layer = cls(NUM_CAPSULE, DIM_CAPSULE, routings=routings)
    layer.build((None, n_in, INPUT_DIM))
    if weights is not None:
        layer.set_weights(weights)
    return layer


def score_sum(v):
    """The loss the layer is timed with: the sum of capsule lengths (what CapsuleLength feeds)."""
    return ops.sum(ops.sqrt(ops.sum(ops.square(v), axis=-1) + EPSILON))


def layer_callables(layer, u):
    """(forward, forward + backward) zero-argument callables that finish their work before returning.

    Backward: gradients of :func:`score_sum` with respect to the input and the kernel, as training
    the whole model needs both.
    """
    if BACKEND == "tensorflow":
        return tf_layer_callables(layer, score_sum, u)
    if BACKEND == "jax":
        import jax
        uj, kernel = jax.numpy.asarray(u), layer.kernel.value

        def apply(x, k):
            return layer.stateless_call([k], [], x)[0]

        forward = jax.jit(apply)
        grad = jax.jit(jax.grad(lambda x, k: score_sum(apply(x, k)), argnums=(0, 1)))
        return (lambda: jax.block_until_ready(forward(uj, kernel)),
                lambda: jax.block_until_ready(grad(uj, kernel)))
    if BACKEND == "torch":
        import torch
        ut = torch.tensor(u, requires_grad=True)
        kernel = layer.kernel.value

        def forward():
            with torch.no_grad():
                return layer(ut)

        def forward_backward():
            ut.grad = None
            kernel.grad = None
            score_sum(layer(ut)).backward()
            return ut.grad, kernel.grad

        return forward, forward_backward
    raise RuntimeError(f"no layer timing for backend {BACKEND}")


def xla_temp_bytes(layer, u):
    """JAX only: the temporary buffers XLA allocates for one forward + backward (exact, no run)."""
    import jax
    kernel = layer.kernel.value

    def loss(x, k):
        return score_sum(layer.stateless_call([k], [], x)[0])

    compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(jax.numpy.asarray(u), kernel).compile()
    analysis = compiled.memory_analysis()
    return int(analysis.temp_size_in_bytes) if analysis is not None else None


def task_layer(quick):
    keras.utils.set_random_seed(0)
    u = layer_input(BATCH, N_IN)
    reference = make_layer(Capsule)
    weights = reference.get_weights()
    layers = {name: make_layer(cls, weights=weights) for name, cls in LAYERS.items()}
    if not quick:   # mixed precision: bfloat16 compute, float32 weights (Keras dtype policy)
        mixed = Capsule(NUM_CAPSULE, DIM_CAPSULE, routings=ROUTINGS, dtype="mixed_bfloat16")
        mixed.build((None, N_IN, INPUT_DIM))
        mixed.set_weights(weights)
        layers[MIXED] = mixed
    expected = ops.convert_to_numpy(reference(u))
    max_diff = {name: float(np.max(np.abs(ops.convert_to_numpy(ops.cast(layer(u), "float32")) - expected)))
                for name, layer in layers.items()}
    fns = {}
    for name, layer in layers.items():
        fwd, fwd_bwd = layer_callables(layer, u)
        fns[f"{name} | forward"] = fwd
        fns[f"{name} | forward+backward"] = fwd_bwd
    # torch runs eagerly: its per-sample loop takes seconds a call, so fewer rounds there
    repeats = 3 if quick or BACKEND == "torch" else 9
    log("layer alone:", len(fns), f"timings ({repeats} rounds)")
    times, cpu = interleaved_times(fns, warmup=1 if BACKEND == "torch" else 2, repeats=repeats)
    out = {"shape": {"batch": BATCH, "n_in": N_IN, "input_dim": INPUT_DIM, "num_capsule": NUM_CAPSULE,
                     "dim_capsule": DIM_CAPSULE, "routings": ROUTINGS},
           "repeats": repeats, "max_abs_diff_to_capsule": max_diff,
           "time": {}, "speedup_of_capsule": {}, "cpu_speedup_of_capsule": {}}
    main = "capsule_lesson.Capsule"
    for name in layers:
        out["time"][name] = {pass_: summary(times[f"{name} | {pass_}"], cpu[f"{name} | {pass_}"])
                             for pass_ in ("forward", "forward+backward")}
        if name != main:
            for key, t in (("speedup_of_capsule", times), ("cpu_speedup_of_capsule", cpu)):
                out[key][name] = {
                    pass_: paired_ratio(t, f"{name} | {pass_}", f"{main} | {pass_}")
                    for pass_ in ("forward", "forward+backward")}
    return out


def task_scaling(quick):
    keras.utils.set_random_seed(0)
    candidates = {"capsule_lesson.Capsule": Capsule, "einsum over û": EinsumCapsule}
    n_batch = 32
    n_values = [64, 256, 1024] if quick else [64, 256, 1024, 4096]
    r_values = [1, 3, 10] if quick else [1, 2, 3, 4, 6, 8, 10]
    repeats = 3 if quick else 5
    sweeps = {
        "n_in": {"fixed": {"batch": n_batch, "routings": ROUTINGS}, "values": n_values,
                 "point": lambda n: dict(batch=n_batch, n_in=n, routings=ROUTINGS)},
        "routings": {"fixed": {"batch": BATCH, "n_in": N_IN}, "values": r_values,
                     "point": lambda r: dict(batch=BATCH, n_in=N_IN, routings=r)},
    }
    out = {}
    for sweep, spec in sweeps.items():
        rows = {name: [] for name in candidates}
        for value in spec["values"]:          # increasing sizes: the peak memory grows with them
            p = spec["point"](value)
            u = layer_input(p["batch"], p["n_in"])
            layers = {name: make_layer(cls, routings=p["routings"], n_in=p["n_in"])
                      for name, cls in candidates.items()}
            for name, layer in layers.items():
                _, fwd_bwd = layer_callables(layer, u)
                with PeakRSS() as rss:
                    t, c = interleaved_times({name: fwd_bwd}, warmup=1, repeats=repeats)
                row = {"x": value, "forward+backward": summary(t[name], c[name]),
                       "peak_rss_growth_mib": round((rss.peak - rss.start) / 2**20, 1)}
                if BACKEND == "jax":
                    temp = xla_temp_bytes(layer, u)
                    row["xla_temp_mib"] = None if temp is None else round(temp / 2**20, 2)
                rows[name].append(row)
                log(f"scaling {sweep}={value} {name}: {row['forward+backward']['median_ms']:.1f} ms")
        fits = {}
        for name, r in rows.items():
            xs = [row["x"] for row in r]
            fit = {}
            for prefix, key in (("", "median_ms"), ("cpu_", "cpu_median_ms")):
                ys = [row["forward+backward"][key] for row in r]
                intercept, slope, r2 = linear_fit(xs, ys)
                fit.update({f"{prefix}intercept_ms": intercept, f"{prefix}slope_ms_per_unit": slope,
                            f"{prefix}r2": r2,
                            # exponent of the last step (x times 4 or more): 1 = linear, 2 = quadratic
                            f"{prefix}loglog_exponent_last_step":
                                float(np.log(ys[-1] / ys[-2]) / np.log(xs[-1] / xs[-2]))})
            if "xla_temp_mib" in r[0]:
                ms = [row["xla_temp_mib"] for row in r]
                _, mem_slope, mem_r2 = linear_fit(xs, ms)
                fit.update(xla_temp_mib_slope=mem_slope, xla_temp_mib_r2=mem_r2)
            fits[name] = fit
        out[sweep] = {"fixed": spec["fixed"], "rows": rows, "fit": fits}
    out["repeats"] = repeats
    return out


# ---------------------------------------------------------------- per-op profile (closing note)

def _xplane_module():
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # older/newer layouts
        from tsl.profiler.protobuf import xplane_pb2
    return xplane_pb2


def profile_steps(model, x, y, steps, logdir):
    """Op times (ms per step) from TensorFlow's profiler over ``steps`` train steps."""
    import glob

    import tensorflow as tf
    for _ in range(2):
        model.train_on_batch(x, y)
    tf.profiler.experimental.start(logdir)
    for _ in range(steps):
        model.train_on_batch(x, y)
    tf.profiler.experimental.stop()
    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = _xplane_module().XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    ops_ms = {}
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or name.startswith(("ExecutorState", "ThreadpoolListener")):
                    continue            # keep TensorFlow ops ("scope/name:OpType"), not containers
                ops_ms[name] = ops_ms.get(name, 0.0) + event.duration_ps / 1e9 / steps
    return ops_ms


def layer_of(op_name, model_name):
    """'gradient_tape/capsule_model_1/conv2_1/...:Conv2DBackpropInput' -> 'conv2' (and its pass)."""
    scope, _, op_type = op_name.rpartition(":")
    parts = scope.split("/")
    backward = parts[0] == "gradient_tape"
    if backward:
        parts = parts[1:]
    if parts and parts[0].rstrip("_0123456789") == model_name and len(parts) > 1:
        layer = parts[1]
        if layer.rsplit("_", 1)[-1].isdigit():
            layer = layer.rsplit("_", 1)[0]
    else:
        head = parts[0].lower() if parts else ""
        layer = ("optimizer" if head.startswith(("adam", "optimizer")) or op_type.startswith(
            ("ResourceApply", "AssignAdd", "AssignSub", "AssignVariable")) else
                 "loss" if "loss" in head else "other")
    return layer, ("backward" if backward else "forward"), op_type


def task_profile(quick):
    import tempfile
    if BACKEND != "tensorflow":
        raise RuntimeError("the per-op profile uses TensorFlow's profiler")
    keras.utils.set_random_seed(0)
    x, y = batch_of_digits()
    steps = 2 if quick else 3
    out = {"steps": steps}
    for name, build in (("cnn_baseline", cnn_baseline), ("capsule_model", capsule_model)):
        model = build()
        with tempfile.TemporaryDirectory() as logdir:
            ops_ms = profile_steps(model, x, y, steps, logdir)
        by_layer, capsule_ops = {}, {}
        for op, ms in ops_ms.items():
            layer, pass_, op_type = layer_of(op, model.name)
            by_layer[layer] = by_layer.get(layer, 0.0) + ms
            if layer in ("digit_capsules", "to_capsules", "scores", "global_pool", "dense"):
                scope = op.rpartition(":")[0].split("/")
                short = "/".join(p for p in scope if not p.startswith((model.name, "gradient_tape")))
                key = f"{pass_}: {short.split('/', 1)[-1] or op_type} ({op_type})"
                capsule_ops[key] = capsule_ops.get(key, 0.0) + ms
        out[name] = {"total_op_ms": sum(ops_ms.values()),
                     "by_layer_ms": dict(sorted(by_layer.items(), key=lambda kv: -kv[1])),
                     "head_ops_ms": dict(sorted(capsule_ops.items(), key=lambda kv: -kv[1]))}
        log(f"profile {name}: {out[name]['total_op_ms']:.0f} ms of op time per step")
    return out


# ---------------------------------------------------------------- training settings (precision, compilation)

TRAIN_IMAGES = 60_000
#: Multiply-accumulates per 28x28 image in the forward pass of the shared trunk (conv1..conv4, 3x3 kernels):
#: output height x width x output channels x (9 x input channels) per layer.
TRUNK_MACS = sum(h * h * c_out * 9 * c_in for h, c_in, c_out in ((26, 1, 64), (24, 64, 64), (10, 64, 128), (8, 128, 128)))


def train_step_flops(batch=BATCH):
    """Floating-point operations of one train step: forward + backward ~ 3 x forward, 2 FLOPs per MAC (trunk only;
    both heads add < 2 %)."""
    return 3 * 2 * TRUNK_MACS * batch


def matmul_rate(dtype, n=2048, repeats=5):
    """FLOP/s of an n x n x n matrix product in ``dtype`` on this backend: the practical compute ceiling."""
    a = ops.convert_to_tensor(np.random.default_rng(0).random((n, n), dtype=np.float32), dtype=dtype)

    def product():   # reading one element back waits for the whole product on every backend
        return ops.convert_to_numpy(ops.matmul(a, a)[:1, :1])

    for _ in range(2):
        product()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def task_training(quick):
    settings = [("float32", False), ("mixed_bfloat16", False)]
    if BACKEND == "tensorflow":             # JAX always compiles with XLA
        settings += [("float32", True), ("mixed_bfloat16", True)]
    x, y = batch_of_digits()
    steps, models = {}, {}
    for precision, jit in settings:
        for name, build in (("cnn", cnn_baseline), ("capsule", capsule_model)):
            keras.utils.set_random_seed(0)
            with dtype_policy(precision):
                model = build(compile=False)
                model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=capsule_lesson.margin_loss(),
                              jit_compile=jit if BACKEND == "tensorflow" else "auto")
            key = f"{name}, {precision}" + (", jit_compile" if jit else "")
            models[key] = model
            steps[key] = (lambda m=model: m.train_on_batch(x, y))
    repeats = 3 if quick else 7
    log("training settings:", ", ".join(steps), f"({repeats} rounds)")
    times, cpu = interleaved_times(steps, warmup=2, repeats=repeats)
    steps_per_epoch = -(-TRAIN_IMAGES // BATCH)
    rates = {dtype: matmul_rate(dtype) for dtype in ("float32", "bfloat16")}
    out = {"batch": BATCH, "steps_per_epoch": steps_per_epoch, "repeats": repeats, "warmup": 2,
           "train_step_gflop": train_step_flops() / 1e9, "trunk_macs_per_image": TRUNK_MACS,
           "matmul_gflops": {k: v / 1e9 for k, v in rates.items()}, "settings": {}}
    for key in steps:
        step = summary(times[key], cpu[key])
        name, precision = key.split(", ")[:2]
        jit_key = ", jit_compile" if key.endswith("jit_compile") else ""
        row = {"step": step, "epoch_s": step["median_ms"] / 1e3 * steps_per_epoch,
               "achieved_gflops": train_step_flops() / (step["median_ms"] / 1e3) / 1e9}
        row["fraction_of_matmul"] = row["achieved_gflops"] * 1e9 / rates["bfloat16" if "bfloat16" in precision else "float32"]
        row["ratio_to_float32"] = paired_ratio(times, key, f"{name}, float32{jit_key}")
        if name == "capsule":
            row["ratio_to_cnn"] = paired_ratio(times, key, key.replace("capsule", "cnn", 1))
        out["settings"][key] = row
    return out


def task_routings(quick):
    x, y = batch_of_digits()
    steps = {}
    for precision in ("float32", "mixed_bfloat16"):
        builds = {"cnn": cnn_baseline}
        for routing in capsule_lesson.ROUTINGS:
            routings = 1 if routing == "uniform" else ROUTINGS
            builds[f"capsule {routing}"] = (lambda r=routing, n=routings: capsule_model(routing=r, routings=n))
        for name, build in builds.items():
            keras.utils.set_random_seed(0)
            with dtype_policy(precision):
                model = build()
            steps[f"{name}, {precision}"] = (lambda m=model: m.train_on_batch(x, y))
    repeats = 3 if quick else 7
    log("routings:", ", ".join(steps), f"({repeats} rounds)")
    times, cpu = interleaved_times(steps, warmup=2, repeats=repeats)
    out = {"batch": BATCH, "image": [SIDE, SIDE], "repeats": repeats, "warmup": 2, "settings": {}}
    for key in steps:
        name, precision = key.split(", ")
        out["settings"][key] = {"step": summary(times[key], cpu[key]),
                                "ratio_to_cnn": paired_ratio(times, key, f"cnn, {precision}")}
    return out


from .knobs import task_channels, task_pipeline, task_threads  # noqa: E402

TASKS = {"threads": task_threads, "channels": task_channels, "pipeline": task_pipeline, "models": task_models, "layer": task_layer, "scaling": task_scaling, "profile": task_profile,
         "training": task_training, "routings": task_routings}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = {"backend": BACKEND, "task": args.task, **TASKS[args.task](args.quick)}
    result["wall_s"] = time.perf_counter() - start
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
