"""The shipped weights reproduce the metrics recorded when they were trained."""

import hashlib
import json

import numpy as np
import pytest

from capsule_lesson import (PRETRAINED, decoder_views, load_fashion_mnist, load_fashion_mnist_test, load_mnist,
                            load_mnist_test, load_pretrained, pretrained_record)
from capsule_lesson.decoder import reconstruction_error
from capsule_lesson.pretrained import PRETRAINED_DIR
from capsule_lesson.train import evaluate, to_model_input


def dataset_of(name):
    """The dataset a shipped model was trained on, and its loader."""
    return ("fashion_mnist", load_fashion_mnist) if name.startswith("fashion_") else ("mnist", load_mnist)


def complete_test_set(name):
    """The complete test split (bundled with the package) of the dataset a shipped model was trained on."""
    return load_fashion_mnist_test() if name.startswith("fashion_") else load_mnist_test()


def classifier(name):
    """The shipped model as images -> scores (the decoder model's classify view)."""
    model = load_pretrained(name)
    return decoder_views(model).classify if name == "capsule_decoder" else model


@pytest.mark.parametrize("name", PRETRAINED)
def test_record_describes_a_full_training_run(name):
    record = pretrained_record(name)
    assert record["dataset"] == dataset_of(name)[0] and record["train_images"] == 60000
    assert record["epochs"] == (20 if record["model"] == "cnn" else 10)
    assert record["command"].startswith("python -m capsule_lesson.train")
    assert {"seed", "versions", "train_time_s", "history", "metrics"} <= set(record)
    path = PRETRAINED_DIR / f"{name}.weights.h5"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record["shipped_weights_sha256"]
    # ~1.1 MB for the article's models; the decoder's three dense layers add 2.3 MB
    assert path.stat().st_size < (3_600_000 if name == "capsule_decoder" else 2_000_000)


def test_unknown_name_and_tampered_file(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no pretrained model 'resnet'"):
        load_pretrained("resnet")
    import capsule_lesson.pretrained as pretrained

    for suffix in (".json", ".weights.h5"):
        (tmp_path / f"cnn{suffix}").write_bytes((PRETRAINED_DIR / f"cnn{suffix}").read_bytes())
    with open(tmp_path / "cnn.weights.h5", "r+b") as f:
        f.seek(-100, 2)
        f.write(b"\0" * 100)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(OSError, match="does not match its record"):
        load_pretrained("cnn")


def test_pretrained_models_are_compiled_and_predict_on_the_subset():
    for name in PRETRAINED:
        dataset, load = dataset_of(name)
        (_, _), (x_test, y_test) = load(subset=True)
        model = load_pretrained(name)
        assert model.optimizer is not None and model.loss is not None
        scores = classifier(name).predict(to_model_input(x_test), verbose=0)
        assert np.mean(scores.argmax(1) == y_test) > (0.97 if dataset == "mnist" else 0.88), name


@pytest.mark.slow
@pytest.mark.parametrize("name", PRETRAINED)
def test_shipped_weights_reproduce_recorded_metrics_on_the_full_test_set(name):
    x_test, y_test = complete_test_set(name)
    assert len(x_test) == pretrained_record(name)["test_images"] == 10000
    recorded = pretrained_record(name)["metrics"]
    measured = evaluate(classifier(name), x_test, y_test)
    if name == "capsule_decoder":
        views = decoder_views(load_pretrained(name))
        measured["reconstruction_sse"] = reconstruction_error(views, to_model_input(x_test))
        assert measured["reconstruction_sse"] == pytest.approx(recorded["reconstruction_sse"], rel=1e-3)
    print(name, json.dumps(measured))
    # trained on a GPU with JAX, re-evaluated here: a handful of borderline images may flip
    assert measured["test_accuracy"] == pytest.approx(recorded["test_accuracy"], abs=0.0005)
    for layout, acc in recorded["two_digit"].items():
        assert measured["two_digit"][layout]["pairs"] == acc["pairs"]
        assert measured["two_digit"][layout]["top2"] == pytest.approx(acc["top2"], abs=0.002)
        assert measured["two_digit"][layout]["top2_confident"] == pytest.approx(
            acc["top2_confident"], abs=0.002)
        for key in ("exact_set", "mean_above"):          # in the records of the runs that measured them
            if key in acc:
                assert measured["two_digit"][layout][key] == pytest.approx(acc[key], abs=0.002 if key == "exact_set" else 0.01)
    for layout, acc in recorded.get("one_digit_blank", {}).items():
        for key in ("top1", "exactly_one"):
            assert measured["one_digit_blank"][layout][key] == pytest.approx(acc[key], abs=0.002)
