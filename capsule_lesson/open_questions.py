"""The questions the article leaves open in 思考 (亟待优化, 反向传播好不好, 池化好不好), as measurements.

1. Trial and error against gradients. A tiny model, least squares ``L(θ) = ½ mean((Xθ − y)²)``, fitted three
   ways: gradient descent (one forward and one backward pass a step), the article's "try and interpolate" one
   parameter at a time (:func:`fit_by_trial`), and random perturbation of all parameters at once, kept when the
   loss drops (a (1+1) evolution strategy, :func:`fit_by_random_perturbation`). Cost is counted in passes over
   the data: a loss evaluation is one pass (``Xθ``), a gradient one more (``Xᵀr``).
2. Pooling against a stride-2 convolution: the exact identity for the linear part (:func:`pooled_kernel`) and
   quick two-digit runs of both models with ``conv_trunk(downsample=...)`` (:func:`train_variant`).
3. Forward against forward + backward time of the capsule layer and of the two models (:func:`layer_timings`,
   :func:`model_timings`).
4. Transfer: a CNN trained on two-digit images (:func:`pair_training_set`) against one trained on single digits.

``python -m capsule_lesson.open_questions --out DIR`` retrains every record of :data:`PLAN` (data from
``$CAPSULE_LESSON_DATA``, as :func:`capsule_lesson.load_mnist` finds it).
"""

import argparse
import json
import pathlib
import statistics
import time
from typing import NamedTuple

import numpy as np

from .checks import integer_labels, numeric_array

RESULTS_DIR = pathlib.Path(__file__).parent / "results" / "open_questions"

# --------------------------------------------------------------------------------------------------------------
# 1. Trial and error against gradients
# --------------------------------------------------------------------------------------------------------------

METHODS = ("gradient", "trial", "random")
METHOD_LABELS = {"gradient": "gradient descent (backprop)",
                 "trial": "try and interpolate, one parameter at a time",
                 "random": "random perturbation, all at once ((1+1)-ES)"}


class LeastSquares(NamedTuple):
    """``L(θ) = ½ mean((xθ − y)²)``, its minimiser ``theta_star``, ``loss_star = L(theta_star)`` and
    ``lipschitz``, the largest eigenvalue of ``xᵀx / n`` (gradient descent's safe step is its inverse)."""

    x: np.ndarray
    y: np.ndarray
    theta_star: np.ndarray
    loss_star: float
    lipschitz: float


def least_squares_problem(n_params, seed=0, samples_per_param=4, noise=0.1):
    """A random least-squares problem with ``n_params`` parameters and ``samples_per_param * n_params`` rows.

    Gaussian rows keep the conditioning about the same at every size (the eigenvalues of ``xᵀx / n`` fill
    ``[(1 − 1/√s)², (1 + 1/√s)²]`` for ``s = samples_per_param``), so a change of cost with ``n_params`` is the
    methods' doing, not the problem's.
    """
    if int(n_params) != n_params or n_params < 1:
        raise ValueError(f"n_params must be a positive integer, got {n_params!r}")
    if samples_per_param < 1:
        raise ValueError(f"samples_per_param must be >= 1, got {samples_per_param!r}")
    n_params = int(n_params)
    rng = np.random.default_rng(seed)
    n = max(2, int(round(samples_per_param * n_params)))
    x = rng.normal(size=(n, n_params))
    theta_true = rng.normal(size=n_params)
    y = x @ theta_true + noise * rng.normal(size=n)
    gram = x.T @ x / n
    theta_star = np.linalg.solve(gram, x.T @ y / n)           # the normal equations: ∇L(θ*) = 0
    loss_star = 0.5 * float(np.mean((x @ theta_star - y) ** 2))
    lipschitz = float(np.linalg.eigvalsh(gram).max())
    return LeastSquares(x, y, theta_star, loss_star, lipschitz)


def loss(problem, theta):
    """``½ mean((xθ − y)²)``: one pass over the data."""
    r = problem.x @ theta - problem.y
    return 0.5 * float(np.mean(r ** 2))


def gradient(problem, theta):
    """``(L(θ), ∇L(θ))``: the forward pass gives the residual ``r`` and the loss, the backward pass ``xᵀr / n``."""
    r = problem.x @ theta - problem.y
    return 0.5 * float(np.mean(r ** 2)), problem.x.T @ r / len(r)


class Trace(NamedTuple):
    """``passes[k]``: passes over the data spent when ``excess[k] = L(θ) − L*`` was known; ``reached``: the
    passes at which the excess first fell to the target (``None`` if the budget ran out first); ``path``: the
    θ of each entry ``(len(passes), n_params)`` when asked for (``keep_path=True``), else ``None``."""

    passes: np.ndarray
    excess: np.ndarray
    reached: int | None
    path: np.ndarray | None = None


def _trace(passes, excess, target, path=None):
    passes, excess = np.asarray(passes), np.asarray(excess)
    hit = np.flatnonzero(excess <= target)
    return Trace(passes, excess, int(passes[hit[0]]) if len(hit) else None,
                 None if path is None else np.asarray(path))


def _target(problem, tolerance):
    start = loss(problem, np.zeros(problem.x.shape[1])) - problem.loss_star
    return tolerance * start


def fit_by_gradient(problem, tolerance=1e-2, max_passes=100_000, keep_path=False):
    """Gradient descent from θ = 0 with the step ``1 / lipschitz`` until ``L − L*`` is ``tolerance`` times its
    starting value. Each step costs 2 passes: forward (the loss, the residual) and backward (the gradient)."""
    target = _target(problem, tolerance)
    theta = np.zeros(problem.x.shape[1])
    step = 1.0 / problem.lipschitz
    passes, excess, path, spent = [], [], [], 0
    while spent < max_passes:
        value, grad = gradient(problem, theta)
        spent += 1                                   # the forward pass: now L(θ) is known
        passes.append(spent)
        excess.append(value - problem.loss_star)
        path.append(theta)
        if excess[-1] <= target:
            break
        theta = theta - step * grad
        spent += 1                                   # the backward pass
    return _trace(passes, excess, target, path if keep_path else None)


def parabola_step(f_minus, f_zero, f_plus, h):
    """Where the parabola through ``(−h, f_minus), (0, f_zero), (h, f_plus)`` has its minimum, relative to 0.

    The "interpolate" of the article's try-and-interpolate; ``0`` when the three points do not curve upwards
    (no minimum to move to), else ``h (f₋ − f₊) / (2 (f₊ + f₋ − 2 f₀))``.
    """
    curvature = f_plus + f_minus - 2.0 * f_zero
    if curvature <= 0:
        return 0.0
    return h * (f_minus - f_plus) / (2.0 * curvature)


def fit_by_trial(problem, tolerance=1e-2, max_passes=100_000, h=0.5, keep_path=False):
    """The article's trial and error: for each parameter in turn, try it ``h`` higher and ``h`` lower
    (2 passes), move it to the minimum of the parabola through the three losses and evaluate there (1 pass);
    sweep over the parameters until ``L − L*`` reaches the target. Only losses are used, never a derivative."""
    target = _target(problem, tolerance)
    d = problem.x.shape[1]
    theta = np.zeros(d)
    current = loss(problem, theta)
    spent, passes, excess, path = 1, [1], [current - problem.loss_star], [theta]
    while excess[-1] > target and spent < max_passes:
        for k in range(d):
            e = np.zeros(d)
            e[k] = h
            f_plus, f_minus = loss(problem, theta + e), loss(problem, theta - e)
            delta = parabola_step(f_minus, current, f_plus, h)
            candidate = theta.copy()
            candidate[k] += delta
            f_new = loss(problem, candidate)
            spent += 3
            best = min((f_new, 0), (f_plus, 1), (f_minus, 2), (current, 3))
            theta = (candidate, theta + e, theta - e, theta)[best[1]]
            current = best[0]
            passes.append(spent)
            excess.append(current - problem.loss_star)
            path.append(theta)
            if excess[-1] <= target or spent >= max_passes:
                break
    return _trace(passes, excess, target, path if keep_path else None)


def fit_by_random_perturbation(problem, tolerance=1e-2, max_passes=100_000, seed=0, keep_path=False):
    """Random search: perturb every parameter at once by ``σ · N(0, 1)``, keep the new θ if its loss is lower
    (1 pass each try). The step ``σ`` adapts by the one-fifth success rule (it grows when more than a fifth of
    the tries succeed, shrinks otherwise), as in a (1+1) evolution strategy."""
    target = _target(problem, tolerance)
    d = problem.x.shape[1]
    rng = np.random.default_rng(seed)
    theta = np.zeros(d)
    current = loss(problem, theta)
    sigma = 1.0 / np.sqrt(d)
    damping = 1.0 + d / 2.0
    spent, passes, excess, path = 1, [1], [current - problem.loss_star], [theta]
    while excess[-1] > target and spent < max_passes:
        candidate = theta + sigma * rng.normal(size=d)
        value = loss(problem, candidate)
        spent += 1
        success = value < current
        if success:
            theta, current = candidate, value
        sigma *= np.exp((float(success) - 0.2) / (0.8 * damping))
        passes.append(spent)
        excess.append(current - problem.loss_star)
        path.append(theta)
    return _trace(passes, excess, target, path if keep_path else None)


def fit(method, problem, tolerance=1e-2, max_passes=100_000, seed=0, keep_path=False):
    """Run one of :data:`METHODS` on ``problem``; returns its :class:`Trace`."""
    if method == "gradient":
        return fit_by_gradient(problem, tolerance, max_passes, keep_path=keep_path)
    if method == "trial":
        return fit_by_trial(problem, tolerance, max_passes, keep_path=keep_path)
    if method == "random":
        return fit_by_random_perturbation(problem, tolerance, max_passes, seed=seed, keep_path=keep_path)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def search_costs(sizes=(2, 4, 8, 16, 32, 64, 128, 256), seeds=(0, 1, 2), tolerance=1e-2, max_passes=200_000):
    """Passes each method needs to cut the excess loss to ``tolerance`` of its start, per size and seed.

    Returns ``{method: array (len(sizes), len(seeds))}`` (NaN where the budget ran out) and, under the key
    ``"sizes"``, the sizes.
    """
    out = {"sizes": np.asarray(sizes)}
    for method in METHODS:
        table = np.full((len(sizes), len(seeds)), np.nan)
        for a, d in enumerate(sizes):
            for b, seed in enumerate(seeds):
                reached = fit(method, least_squares_problem(d, seed), tolerance, max_passes, seed).reached
                table[a, b] = np.nan if reached is None else reached
        out[method] = table
    return out


def growth_exponent(sizes, costs):
    """The slope p of ``log cost = p log size + c`` (least squares over the per-size medians): cost ∝ size^p."""
    sizes = numeric_array(sizes, "sizes")
    costs = np.asarray(costs, dtype=np.float64).reshape(len(sizes), -1)
    costs = np.array([np.nanmedian(row) if np.isfinite(row).any() else np.nan for row in costs])
    keep = np.isfinite(costs)
    if keep.sum() < 2:
        raise ValueError("a growth exponent needs at least two sizes with a finite cost")
    return float(np.polyfit(np.log(sizes[keep]), np.log(costs[keep]), 1)[0])


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
    import keras

    from .models import conv_trunk

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
    from .two_digit import two_digit_test_set

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
    from .two_digit import LAYOUTS, pair_accuracies, two_digit_test_set

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
    import keras

    from .models import capsule_model, cnn_baseline
    from .precision import cpu_description, dtype_policy, resolve_precision
    from .train import device_description, load_dataset, to_model_input, versions

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
        "parameters": int(net.count_params()), "precision": policy, "precision_reason": reason,
        "versions": versions(), "device": device_description(), "cpu": cpu_description()[0],
        "train_time_s": round(train_time, 1), "test_time_s": round(time.time() - start, 1),
        "history": {k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()},
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
    from keras import ops

    from .layers import Capsule

    u = np.random.default_rng(seed).random((batch, n_in, input_dim), dtype=np.float32)

    def score_sum(v):
        return ops.sum(ops.sqrt(ops.sum(ops.square(v), axis=-1) + 1e-7))

    fns = {}
    for r in routings:
        layer = Capsule(10, 16, routings=r)
        layer.build((None, n_in, input_dim))
        fns[r, "forward"], fns[r, "forward+backward"] = _layer_callables(layer, score_sum, u)
    medians = interleaved_medians(fns, repeats=repeats)
    return {r: {kind: medians[r, kind] for kind in ("forward", "forward+backward")} for r in routings}


def _layer_callables(layer, loss_fn, u):
    import tensorflow as tf

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
    import keras
    import tensorflow as tf

    from .layers import margin_loss
    from .models import capsule_model, cnn_baseline

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
