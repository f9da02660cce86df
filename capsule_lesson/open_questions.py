"""The questions the article leaves open in 思考 (亟待优化, 反向传播好不好, 池化好不好), as measurements (notebook 13).

Here: pooling against a stride-2 convolution, the exact identity for the linear part (:func:`pooled_kernel`) and
quick two-digit runs of both models with ``conv_trunk(downsample=...)`` (:func:`train_variant`); and transfer, a
CNN trained on two-digit images (:func:`pair_training_set`) against one trained on single digits. Trial and error
against gradients is in :mod:`capsule_lesson.trial_and_error`, forward against backward time in
:mod:`capsule_lesson.timing`.

``python -m capsule_lesson.open_questions --out DIR`` retrains every record of :data:`PLAN` (data from
``$CAPSULE_LESSON_DATA``, as :func:`capsule_lesson.load_mnist` finds it).
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

from .checks import integer_labels, numeric_array
from .data import to_model_input
from .models import capsule_model, cnn_baseline, conv_trunk
from .precision import dtype_policy, resolve_precision
from .train import load_dataset, run_facts
from .two_digit import LAYOUTS, pair_accuracies, two_digit_test_set

RESULTS_DIR = pathlib.Path(__file__).parent / "results" / "open_questions"

# --------------------------------------------------------------------------------------------------------------
# 1. Trial and error against gradients
# --------------------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------------------
# 2. Pooling against a stride-2 convolution
# --------------------------------------------------------------------------------------------------------------

def conv2d(image, kernel, stride=1):
    """Valid cross-correlation of a 2-D ``image`` with a 2-D ``kernel`` (what a one-channel Keras ``Conv2D``
    without bias computes), taking every ``stride``-th output position."""
    image, kernel = numeric_array(image, "image"), numeric_array(kernel, "kernel")
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"image and kernel must be 2-D, got {image.shape} and {kernel.shape}")
    if stride < 1 or int(stride) != stride:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    kh, kw = kernel.shape
    if image.shape[0] < kh or image.shape[1] < kw:
        raise ValueError(f"kernel {kernel.shape} is larger than image {image.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(image, (kh, kw))[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, kernel)


def avg_pool(image, size=2):
    """Non-overlapping ``size × size`` average pooling of a 2-D array (a trailing odd row or column is dropped,
    as Keras's ``AveragePooling2D`` with its default ``"valid"`` padding does)."""
    image = numeric_array(image, "image")
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got {image.shape}")
    h, w = (image.shape[0] // size) * size, (image.shape[1] // size) * size
    return image[:h, :w].reshape(h // size, size, w // size, size).mean(axis=(1, 3))


def pooled_kernel(kernel, size=2):
    """The kernel of the stride-``size`` convolution equal to ``kernel``'s stride-1 convolution followed by
    ``size × size`` average pooling: ``kernel`` spread over a ``size × size`` box, shape ``(kh + size − 1,
    kw + size − 1)``. ``avg_pool(conv2d(x, k)) == conv2d(x, pooled_kernel(k), stride=size)`` for every x."""
    kernel = numeric_array(kernel, "kernel")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got {kernel.shape}")
    kh, kw = kernel.shape
    out = np.zeros((kh + size - 1, kw + size - 1))
    for a in range(size):
        for b in range(size):
            out[a:a + kh, b:b + kw] += kernel
    return out / size ** 2


def trunk_multiply_adds(downsample="avgpool", image=(28, 28)):
    """``(multiply-adds, map shape)`` of the article's trunk on one ``image``: the convolutions' multiply-adds
    (``out_h · out_w · kh · kw · c_in · c_out`` each) and the final feature map's ``(h, w, channels)``."""

    inputs = keras.Input((*image, 1))
    trunk = keras.Model(inputs, conv_trunk(inputs, downsample=downsample))
    total = 0
    for layer in trunk.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            total += h * w * kh * kw * c_in * c_out
    return int(total), tuple(trunk.output.shape[1:])


# --------------------------------------------------------------------------------------------------------------
# 2 and 4. Quick two-digit runs
# --------------------------------------------------------------------------------------------------------------

#: The quick runs the notebook reads: both models with each downsampling, trained on single digits, and the CNN
#: trained on stacked pairs made of the same 20,000 training digits.
PLAN = tuple(
    [dict(model=m, downsample=d) for d in ("avgpool", "stride", "none") for m in ("cnn", "capsule")]
    + [dict(model="cnn", downsample="avgpool", train_on="pairs")]
)
QUICK = dict(train_limit=20_000, epochs=2, seed=0, test_limit=5_000, precision="mixed_bfloat16")


def multi_hot(pairs, classes=10):
    """``(m, 2)`` integer label pairs -> ``(m, classes)`` float32 targets with a 1 for each digit present."""
    pairs = integer_labels(np.asarray(pairs), "pairs", classes=classes)
    if pairs.ndim != 2:
        raise ValueError(f"pairs must have shape (m, k), got {pairs.shape}")
    out = np.zeros((len(pairs), classes), np.float32)
    np.put_along_axis(out, pairs, 1.0, axis=1)
    return out


def pair_training_set(x, y, seed=0, layout="stacked"):
    """Training images joined two by two, as the two-digit test joins test images (each image with a shuffled
    partner; same-digit pairs dropped), with multi-hot targets: ``(images, targets (m, 10), pairs (m, 2))``."""
    images, pairs = two_digit_test_set(x, y, seed=seed, layout=layout)
    return images, multi_hot(pairs), pairs


def record_name(spec):
    """File stem of a run's record: ``cnn_avgpool``, ``capsule_stride``, ``cnn_avgpool_pairs-stacked`` ..."""
    name = f"{spec['model']}_{spec.get('downsample', 'avgpool')}"
    if spec.get("train_on", "single") == "pairs":
        name += f"_pairs-{spec.get('layout', 'stacked')}"
    return f"{name}_seed{spec.get('seed', 0)}"


def quick_metrics(scores_of, x_test, y_test, pair_seed=0):
    """Single-digit accuracy and, per layout, the article's two two-digit accuracies (A, B), the exact-set
    accuracy and the classes above 0.5, as :func:`capsule_lesson.train.evaluate` records them."""
    metrics = {"test_accuracy": float(np.mean(scores_of(x_test).argmax(1) == y_test)), "two_digit": {}}
    for layout in LAYOUTS:
        images, pairs = two_digit_test_set(x_test, y_test, seed=pair_seed, layout=layout)
        acc = pair_accuracies(scores_of(images), pairs)
        metrics["two_digit"][layout] = {**acc._asdict(), "pairs": int(len(pairs))}
    return metrics


def train_variant(model="cnn", *, downsample="avgpool", train_on="single", layout="stacked", train_limit=20_000,
                  epochs=2, seed=0, test_limit=5_000, precision="mixed_bfloat16", batch_size=128, data_path=None,
                  subset=False, verbose=0, out=None):
    """Train the article's CNN or capsule model with ``conv_trunk(downsample=...)`` and score it; return the
    record (also written to ``out/<record_name>.json`` when ``out`` is given; no weights are kept).

    ``train_on="pairs"`` trains on :func:`pair_training_set` of the first ``train_limit`` training images
    (``layout``), one pass over the pairs per epoch; ``"single"`` on the images themselves. The test: the first
    ``test_limit`` MNIST test images, alone and paired in both layouts (:func:`quick_metrics`). Data: the full
    MNIST from ``data_path`` or ``$CAPSULE_LESSON_DATA`` (``subset=True``: the bundled subset, for tests).
    """

    if model not in ("cnn", "capsule"):
        raise ValueError(f"unknown model {model!r}; choose cnn or capsule")
    if train_on not in ("single", "pairs"):
        raise ValueError(f"unknown train_on {train_on!r}; choose single or pairs")
    policy, reason = resolve_precision(precision)
    (x_train, y_train), (x_test, y_test) = load_dataset("mnist", data_path, subset=subset)
    x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    if train_on == "pairs":
        images, targets, _ = pair_training_set(x_train, y_train, seed=seed + 1, layout=layout)
    else:
        images, targets = x_train, keras.utils.to_categorical(y_train, 10)
    keras.utils.set_random_seed(seed)
    with dtype_policy(policy):
        net = (cnn_baseline(downsample=downsample) if model == "cnn"
               else capsule_model(downsample=downsample))
    start = time.time()
    history = net.fit(to_model_input(images), targets, batch_size=batch_size, epochs=epochs, verbose=verbose)
    train_time = time.time() - start

    def scores_of(batch):
        return net.predict(to_model_input(batch), batch_size=500, verbose=0)

    start = time.time()
    metrics = quick_metrics(scores_of, x_test, y_test)
    spec = dict(model=model, downsample=downsample, train_on=train_on, seed=seed)
    if train_on == "pairs":
        spec["layout"] = layout
    record = {
        **spec, "dataset": "mnist", "subset": bool(subset), "train_images": int(len(images)), "train_digits": int(len(x_train)),
        "test_images": int(len(x_test)), "epochs": epochs, "batch_size": batch_size,
        "parameters": int(net.count_params()), **run_facts(policy, reason, history),
        "train_time_s": round(train_time, 1), "test_time_s": round(time.time() - start, 1),
        "metrics": metrics,
        "command": f"python -m capsule_lesson.open_questions --only {record_name(spec)}",
    }
    if out is not None:
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{record_name(spec)}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def load_open_records(folder=RESULTS_DIR):
    """Every record of a folder of :func:`train_variant` runs, keyed by :func:`record_name`."""
    records = {}
    for path in sorted(pathlib.Path(folder).glob("*.json")):
        record = json.loads(path.read_text())
        records[record_name(record)] = record
    return records


def flat_row(record):
    """One record as a flat row: spec, single-digit accuracy and, per layout, A, B, the exact-set accuracy and
    the mean number of classes above 0.5 (``<layout>_above``)."""
    row = {k: record.get(k) for k in ("model", "downsample", "train_on", "seed", "parameters", "train_time_s")}
    row["test_accuracy"] = record["metrics"]["test_accuracy"]
    for layout, acc in record["metrics"]["two_digit"].items():
        for key, short in (("top2", "A"), ("top2_confident", "B"), ("exact_set", "exact")):
            row[f"{layout}_{short}"] = acc[key]
        row[f"{layout}_above"] = acc["mean_above"]
    return row


# --------------------------------------------------------------------------------------------------------------
# 3. Forward against forward + backward time (TensorFlow backend, the course's default; ``python -m benchmarks``
#    measures JAX and PyTorch too)
# --------------------------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m capsule_lesson.open_questions",
                                     description="Retrain the quick runs of notebook 13 (data: $CAPSULE_LESSON_DATA).")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for the JSON records")
    parser.add_argument("--only", nargs="*", default=None, help="record names to run (default: the whole plan)")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    total = time.time()
    for spec in PLAN:
        full = {**QUICK, **spec}
        if args.only and record_name(full) not in args.only:
            continue
        start = time.time()
        record = train_variant(**full, out=args.out, verbose=args.verbose)
        stacked = record["metrics"]["two_digit"]["stacked"]["top2"]
        print(f"{record_name(full)}: {time.time() - start:.0f} s (total {time.time() - total:.0f} s), test "
              f"{record['metrics']['test_accuracy']:.4f}, stacked A {stacked:.3f}", flush=True)


if __name__ == "__main__":
    main()
