"""Forward against forward + backward time of the capsule layer and of the article's two models (the article's
亟待优化: does routing make the backward pass slow?), measured here, or read from a committed benchmark file.
Timings use the TensorFlow backend, the course's default; ``python -m benchmarks`` measures JAX and PyTorch too.
"""

import json
import pathlib
import statistics
import time

import keras
import numpy as np
from keras import ops

from .layers import Capsule
from .losses import margin_loss
from .models import capsule_model, cnn_baseline


def interleaved_medians(fns, warmup=2, repeats=5):
    """Median wall time in ms of each zero-argument callable in ``fns`` (name -> fn), timed round by round in
    a rotating order (a burst of load from another process hits every candidate alike)."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def layer_timings(routings=(1, 2, 3, 5), batch=128, n_in=64, input_dim=128, repeats=5, seed=0):
    """Forward and forward + backward ms of the capsule model's head, ``Capsule(10, 16)`` on ``n_in`` capsules
    of ``input_dim`` (64 × 128 is what a 28 × 28 digit gives), per number of routings. Backward: the gradients
    of the summed capsule lengths with respect to the input and the kernel, as training needs both.

    Returns ``{r: {"forward": ms, "forward+backward": ms}}`` (medians of interleaved rounds).
    """

    u = np.random.default_rng(seed).random((batch, n_in, input_dim), dtype=np.float32)

    def score_sum(v):
        return ops.sum(ops.sqrt(ops.sum(ops.square(v), axis=-1) + 1e-7))

    fns = {}
    for r in routings:
        layer = Capsule(10, 16, routings=r)
        layer.build((None, n_in, input_dim))
        fns[r, "forward"], fns[r, "forward+backward"] = layer_callables(layer, score_sum, u)
    medians = interleaved_medians(fns, repeats=repeats)
    return {r: {kind: medians[r, kind] for kind in ("forward", "forward+backward")} for r in routings}


def layer_callables(layer, loss_fn, u):
    """Zero-argument (forward, forward + backward) callables of ``layer`` on ``u`` that finish their work before
    returning, TensorFlow backend; backward: the gradients of ``loss_fn(layer(u))`` for ``u`` and the kernel."""
    import tensorflow as tf   # GradientTape: these timings are for the TensorFlow backend

    x = tf.constant(u)

    @tf.function
    def forward():
        return layer(x)

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss_fn(layer(x))
        return tape.gradient(value, [x, layer.kernel])

    return (lambda: forward().numpy()), (lambda: [g.numpy() for g in forward_backward()])


def model_timings(routings=(1, 2, 3, 5), batch=32, image=(28, 28), repeats=5, seed=0):
    """Forward and forward + backward ms of ``cnn_baseline()`` and of ``capsule_model(routings=r)``; backward:
    the margin loss's gradients for every trainable weight (a training step without the optimizer update).

    Returns ``{"cnn": {...}, "capsule, r = 1": {...}, ...}``, each ``{"forward": ms, "forward+backward": ms}``.
    """
    import tensorflow as tf   # GradientTape: these timings are for the TensorFlow backend

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.random((batch, *image, 1), dtype=np.float32))
    y = tf.constant(keras.utils.to_categorical(rng.integers(0, 10, batch), 10))
    loss_fn = margin_loss()
    models = {"cnn": cnn_baseline(compile=False)}
    for r in routings:
        models[f"capsule, r = {r}"] = capsule_model(compile=False, routings=r)
    fns = {}
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")          # one tf.function pair per model: TensorFlow's retracing warning is expected
    for name, net in models.items():
        def make(net):
            @tf.function
            def forward():
                return net(x, training=False)

            @tf.function
            def forward_backward():
                with tf.GradientTape() as tape:
                    value = tf.reduce_mean(loss_fn(y, net(x, training=True)))
                return tape.gradient(value, net.trainable_variables)

            return (lambda: forward().numpy()), (lambda: [g.numpy() for g in forward_backward()])

        fns[name, "forward"], fns[name, "forward+backward"] = make(net)
    try:
        medians = interleaved_medians(fns, repeats=repeats)
    finally:
        logger.setLevel(level)
    return {name: {kind: medians[name, kind] for kind in ("forward", "forward+backward")} for name in models}


def benchmark_layer_times(path):
    """From a committed ``python -m benchmarks`` result: the capsule layer's forward and forward + backward
    median wall ms (TensorFlow, its shape), the forward + backward CPU ms per number of routings with the
    benchmark's straight-line fit, and the train-step ratio of ``capsule_model`` to ``cnn_baseline``.

    Returns ``{"shape": {...}, "forward": ms, "forward+backward": ms, "routings": {r: CPU ms},
    "routings_fit": {"slope_ms": .., "r2": ..}, "model_step_ratio": float | None}``.
    """
    result = json.loads(pathlib.Path(path).read_text())["results"]["tensorflow"]
    layer = result["layer"]
    timed = layer["time"]["capsule_lesson.Capsule"]
    out = {"shape": layer["shape"], "forward": timed["forward"]["median_ms"],
           "forward+backward": timed["forward+backward"]["median_ms"], "routings": {}, "model_step_ratio": None}
    scaling = result.get("scaling", {}).get("routings")
    if scaling:
        out["routings_shape"] = scaling["fixed"]
        for row in scaling["rows"]["capsule_lesson.Capsule"]:
            out["routings"][int(row["x"])] = row["forward+backward"]["cpu_median_ms"]
        fit = scaling["fit"]["capsule_lesson.Capsule"]
        out["routings_fit"] = {"slope_ms": fit["cpu_slope_ms_per_unit"], "r2": fit["cpu_r2"]}
    ratios = result.get("models", {}).get("ratio_to_cnn", {})
    if "capsule_model" in ratios:
        out["model_step_ratio"] = float(ratios["capsule_model"])
    return out
