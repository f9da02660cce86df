"""Weights trained by ``python -m capsule_lesson.train``, shipped with the package.

Each ``<name>.weights.h5`` has a ``<name>.json`` beside it: the training record (command, seed, epochs,
versions, device, history and metrics) plus the SHA-256 of the shipped file.
"""

import hashlib
import json
import os
import pathlib
import tempfile
import warnings

import h5py

from .models import build_model
from .precision import dtype_policy

PRETRAINED_DIR = pathlib.Path(__file__).parent / "pretrained"

#: name -> keyword arguments of :func:`capsule_lesson.models.build_model`
PRETRAINED = {
    "cnn": {"name": "cnn"},
    "capsule": {"name": "capsule", "update": "replace"},
    "capsule_accumulate": {"name": "capsule", "update": "accumulate"},
    "capsule_decoder": {"name": "capsule_decoder"},   # see capsule_lesson.decoder.decoder_views
    "fashion_cnn": {"name": "cnn"},                    # the same two models, trained on Fashion-MNIST
    "fashion_capsule": {"name": "capsule", "update": "replace"},
    # the best fix of notebook 14: no trunk biases, the article's routing, trained on the two-digit canvas
    "capsule_calibrated": {"name": "capsule", "trunk_bias": False},
}


def _check_name(name):
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained model {name!r}; choose one of {', '.join(PRETRAINED)}")


def pretrained_record(name):
    """The training record of a shipped model (a dict; metrics under ``record['metrics']``)."""
    _check_name(name)
    return json.loads((PRETRAINED_DIR / f"{name}.json").read_text())


def load_pretrained(name):
    """A compiled Keras model with the shipped weights, by name: one of :data:`PRETRAINED`, built in the precision
    it was trained in (its record's ``precision``: float32, or mixed bfloat16 for ``"capsule_calibrated"``).

    ``"capsule_decoder"`` takes ``[image, one-hot label]``; use :func:`capsule_lesson.decoder_views` on it.
    """
    _check_name(name)
    path = PRETRAINED_DIR / f"{name}.weights.h5"
    record = pretrained_record(name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    if digest != record["shipped_weights_sha256"]:
        raise OSError(f"{path} is missing or does not match its record (SHA-256 {digest}); "
                      "reinstall the package or retrain with python -m capsule_lesson.train")
    config = dict(PRETRAINED[name])
    with dtype_policy(record.get("precision", "float32")):   # as it was trained and evaluated for its record
        model = build_model(config.pop("name"), **config)
    with warnings.catch_warnings():  # the file holds no optimizer state, on purpose
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
    return model


def save_model_weights(model, path):
    """Save only the layers' weights, without the optimizer's state (a third of the size)."""
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "full.weights.h5")
        model.save_weights(full)
        with h5py.File(full, "r") as src, h5py.File(path, "w") as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            for group in src:
                if group != "optimizer":
                    src.copy(src[group], dst, name=group)
