"""Train the article's models and record everything needed to trust the result.

    python -m capsule_lesson.train --model capsule --epochs 10 --seed 0 --out runs/capsule-seed0
    python -m capsule_lesson.train --model cnn --epochs 20 --seed 0 --out runs/cnn-seed0

Writes ``model.weights.h5`` and ``record.json`` (command, seed, versions, device, wall time, per-epoch
history, test accuracy, and both two-digit accuracies in both layouts) into ``--out``.
Data come from :func:`capsule_lesson.load_mnist` (``--data``, ``$CAPSULE_LESSON_DATA`` or ``keras.datasets``;
without the full training set it stops with a message naming the sources tried; ``--subset`` for a quick
run on the bundled 2,000 training images).
"""

import argparse
import hashlib
import json
import os
import pathlib
import platform
import shlex
import sys
import time

import keras
import numpy as np

from . import data
from .canvas import OneDigitCanvas
from .data import to_model_input
from .decoder import RECONSTRUCTION_WEIGHT, decoder_views, reconstruction_error
from .models import ARTICLE_EPOCHS, MODELS, build_model
from .precision import PRECISIONS, cpu_description, dtype_policy, resolve_precision
from .pretrained import save_model_weights
from .two_digit import LAYOUTS, one_digit_blank_test_set, pair_accuracies, single_accuracies, two_digit_test_set

DATASETS = ("mnist", "fashion_mnist")


def load_dataset(name, path=None, subset=False):
    """The full dataset (``DatasetNotFoundError`` naming the sources tried if it is nowhere), or the subset."""
    loader = {"mnist": data.load_mnist, "fashion_mnist": data.load_fashion_mnist}.get(name)
    if loader is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return loader(path, subset=subset, fallback=False)


def evaluate(model, x_test, y_test, pair_seed=0, batch_size=500):
    """Single-image accuracy; per layout, the article's two accuracies on two-image tests, the exact-set
    accuracy and the classes above 0.5; and the same canvas with one digit and a blank half.

    ``model`` maps images to scores; for a ``capsule_decoder`` model pass ``decoder_views(model).classify``.
    """
    def scores_of(images):
        return model.predict(to_model_input(images), batch_size=batch_size, verbose=0)

    metrics = {"test_accuracy": float(np.mean(scores_of(x_test).argmax(1) == y_test)),
               "two_digit": {}, "one_digit_blank": {}}
    for layout in LAYOUTS:
        images, pairs = two_digit_test_set(x_test, y_test, seed=pair_seed, layout=layout)
        acc = pair_accuracies(scores_of(images), pairs)
        metrics["two_digit"][layout] = {"top2": acc.top2, "top2_confident": acc.top2_confident,
                                        "exact_set": acc.exact_set, "mean_above": acc.mean_above,
                                        "pairs": int(len(pairs))}
        images, labels = one_digit_blank_test_set(x_test, y_test, seed=pair_seed, layout=layout)
        metrics["one_digit_blank"][layout] = single_accuracies(scores_of(images), labels)._asdict()
    return metrics


def versions():
    backend = keras.backend.backend()
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    backend_version = __import__(backend_module).__version__ if backend_module else None
    return {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__,
            "backend": backend, "backend_version": backend_version}


def run_facts(policy, precision_reason, history):
    """What every training record says of where and how it ran: versions, device, precision and why, the CPU,
    and the per-epoch history (rounded)."""
    return {"versions": versions(), "device": device_description(), "precision": policy,
            "precision_reason": precision_reason, "cpu": cpu_description()[0],
            "history": {k: [round(float(x), 6) for x in v] for k, v in history.history.items()}}


def device_description():
    if keras.backend.backend() == "jax":
        import jax   # each backend imported only when it is the active one (the others may be absent)
        return ", ".join(sorted({d.device_kind for d in jax.devices()}))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        return f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores)"
    return keras.backend.backend()


def train(model_name="capsule", epochs=None, seed=0, out="runs/run", dataset="mnist", data_path=None,
          subset=False, train_limit=None, batch_size=128, learning_rate=1e-3, routings=3,
          update="replace", squash="su", inner_squash=None, verbose=1, command=None, recon_weight=None,
          precision="float32", routing="dynamic", temperature=1.0, aggregate="sum", leaky=False, trunk_bias=True,
          canvas=False):
    """Train one model; write ``model.weights.h5`` and ``record.json`` to ``out``; return the record.

    ``epochs``: None trains for the article's epochs (:data:`capsule_lesson.models.ARTICLE_EPOCHS`).
    ``precision``: ``"float32"`` (the published runs), ``"mixed_bfloat16"``, or ``"auto"`` (bfloat16 where the
    hardware computes it natively; see :mod:`capsule_lesson.precision`). The record says which was used and why.
    ``aggregate``, ``leaky`` (capsule models): see :class:`capsule_lesson.Capsule`; ``trunk_bias`` (every model):
    see :func:`capsule_lesson.models.conv_trunk`. ``canvas=True``: every training digit sits on the two-digit
    test's canvas beside a blank image (:class:`capsule_lesson.canvas.OneDigitCanvas`); not for the decoder model.
    """
    if model_name not in MODELS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {', '.join(MODELS)}")
    if canvas and model_name == "capsule_decoder":
        raise ValueError("canvas training is for the cnn and capsule models (the decoder redraws 28x28 images)")
    epochs = ARTICLE_EPOCHS[model_name] if epochs is None else epochs   # the article's, by default
    policy, precision_reason = resolve_precision(precision)
    if verbose:
        print(f"precision: {policy} ({precision_reason})", flush=True)
    keras.utils.set_random_seed(seed)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = load_dataset(dataset, data_path, subset)
    if train_limit:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]

    with dtype_policy(policy):
        settings = {} if model_name == "cnn" else dict(
            routing=routing, routings=routings, update=update, squash=squash, inner_squash=inner_squash,
            temperature=temperature, aggregate=aggregate, leaky=leaky)
        model = build_model(model_name, recon_weight=recon_weight, trunk_bias=trunk_bias, **settings)
    if learning_rate != 1e-3:
        model.optimizer.learning_rate = learning_rate
    decoder = model_name == "capsule_decoder"

    def inputs_targets(images, labels):
        x, y = to_model_input(images), keras.utils.to_categorical(labels, 10)
        return ([x, y], [y, x]) if decoder else (x, y)   # the decoder sees the true class, redraws x

    start = time.time()
    if canvas:
        history = model.fit(OneDigitCanvas(x_train, y_train, batch_size, seed), epochs=epochs, verbose=verbose,
                            validation_data=inputs_targets(x_test, y_test))
    else:
        history = model.fit(*inputs_targets(x_train, y_train), batch_size=batch_size, epochs=epochs,
                            verbose=verbose, validation_data=inputs_targets(x_test, y_test))
    train_time = time.time() - start
    weights = out / "model.weights.h5"
    save_model_weights(model, weights)
    if decoder:
        views = decoder_views(model)
        metrics = evaluate(views.classify, x_test, y_test)
        metrics["reconstruction_sse"] = reconstruction_error(views, to_model_input(x_test))
    else:
        metrics = evaluate(model, x_test, y_test)
    config = {} if trunk_bias else {"trunk_bias": False}   # records older than these options had neither
    if canvas:
        config["canvas"] = True
    if model_name != "cnn":
        config.update(routing=routing, routings=routings, update=update, squash=squash, inner_squash=inner_squash,
                      temperature=temperature, aggregate=aggregate, leaky=leaky)
    if decoder:
        config["recon_weight"] = float(RECONSTRUCTION_WEIGHT if recon_weight is None else recon_weight)

    record = {
        "command": command or "python -m capsule_lesson.train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "model": model_name, "dataset": dataset, "subset": bool(subset),
        "train_images": int(len(x_train)), "test_images": int(len(x_test)),
        "seed": seed, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
        "config": config,
        "parameters": int(model.count_params()),
        **run_facts(policy, precision_reason, history),
        "train_time_s": round(train_time, 1),
        "metrics": metrics,
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    (out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def true_or_false(text):
    """``--flag true`` / ``--flag false`` (as :mod:`capsule_lesson.experiments` writes a job's settings)."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m capsule_lesson.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, default="capsule")
    parser.add_argument("--dataset", choices=DATASETS, default="mnist")
    parser.add_argument("--epochs", type=int, default=None, help="default: 20 for cnn, 10 for capsule (the article's code)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for model.weights.h5 and record.json")
    parser.add_argument("--data", default=None, help="dataset .npz or folder (default: $CAPSULE_LESSON_DATA, ...)")
    parser.add_argument("--subset", action="store_true", help="train on the bundled subset (quick check)")
    parser.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--routing", default="dynamic", help="dynamic (the article), kmeans, em or uniform")
    parser.add_argument("--temperature", type=float, default=1.0, help="k-means routing's temperature")
    parser.add_argument("--routings", type=int, default=3)
    parser.add_argument("--update", default="replace")
    parser.add_argument("--squash", default="su")
    parser.add_argument("--inner-squash", default=None)
    parser.add_argument("--aggregate", default="sum", help="sum (the article) or mean: s_j divided by sum_i c_ij")
    parser.add_argument("--leaky", type=true_or_false, default=False,
                        help="true: the couplings' softmax holds an orphan output with logit 0")
    parser.add_argument("--trunk-bias", type=true_or_false, default=True,
                        help="false: convolutions without biases (a blank patch gives a zero capsule)")
    parser.add_argument("--canvas", type=true_or_false, default=False,
                        help="true: each training digit on the two-digit canvas beside a blank image")
    parser.add_argument("--recon-weight", type=float, default=None,
                        help="capsule_decoder only: weight of the summed squared pixel error (default 0.0005)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="float32 (default, the published runs), mixed_bfloat16, or auto: bfloat16 where "
                             "the processor computes it natively (AVX512-BF16 / AMX, or a GPU of compute capability >= 8)")
    parser.add_argument("--verbose", type=int, default=1, help="Keras fit verbosity (1: progress bar)")
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else ARTICLE_EPOCHS[args.model]
    if args.recon_weight is not None and args.model != "capsule_decoder":
        parser.error("--recon-weight applies to --model capsule_decoder only")
    record = train(args.model, epochs, args.seed, args.out, args.dataset, args.data, args.subset,
                   args.train_limit, args.batch_size, args.learning_rate, args.routings, args.update,
                   args.squash, args.inner_squash, args.verbose, recon_weight=args.recon_weight,
                   precision=args.precision, routing=args.routing, temperature=args.temperature,
                   aggregate=args.aggregate, leaky=args.leaky, trunk_bias=args.trunk_bias, canvas=args.canvas)
    print(json.dumps(record["metrics"], indent=2))


if __name__ == "__main__":
    main()
