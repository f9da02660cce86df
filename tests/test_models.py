import json

import keras
import numpy as np
import pytest

from capsule_lesson import Capsule, MarginLoss, capsule_model, cnn_baseline, load_mnist
from capsule_lesson.data import to_model_input
from capsule_lesson.models import build_model
from capsule_lesson.train import main as train_main


def test_parameter_counts_match_the_article_models():
    assert cnn_baseline().count_params() == 276_810
    assert capsule_model().count_params() == 279_488


@pytest.mark.parametrize("factory", [cnn_baseline, capsule_model])
def test_images_of_any_size_give_ten_scores_in_unit_interval(factory):
    model = factory()
    for shape in ((28, 28), (28, 56), (56, 28)):
        scores = model.predict(np.random.default_rng(0).random((2, *shape, 1)), verbose=0)
        assert scores.shape == (2, 10)
        assert np.all((scores >= 0) & (scores <= 1))


def test_capsule_model_is_compiled_with_margin_loss_and_accuracy():
    model = capsule_model(routings=2, update="accumulate", squash="hinton")
    assert isinstance(model.loss, MarginLoss)
    capsule = next(layer for layer in model.layers if isinstance(layer, Capsule))
    assert (capsule.routings, capsule.update, capsule.squash, capsule.share_weights) == (2, "accumulate", "hinton", True)
    assert tuple(capsule.kernel.shape) == (10, 16, 128)


def test_capsule_model_saves_and_loads(tmp_path):
    model = capsule_model()
    x = np.random.default_rng(1).random((2, 28, 56, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_build_model_names():
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn")


def test_to_model_input():
    x = to_model_input(np.full((2, 28, 28), 255, np.uint8))
    assert x.shape == (2, 28, 28, 1) and x.dtype == np.float32 and x.max() == 1.0


def test_training_script_writes_a_complete_record(tmp_path):
    out = tmp_path / "run"
    train_main(["--model", "capsule", "--subset", "--epochs", "1", "--train-limit", "256",
                "--out", str(out), "--verbose", "0", "--routings", "2"])
    record = json.loads((out / "record.json").read_text())
    assert record["epochs"] == 1 and record["train_images"] == 256 and record["subset"] is True
    assert record["config"]["routings"] == 2 and record["parameters"] == 279_488
    assert len(record["history"]["loss"]) == 1
    assert set(record["metrics"]["two_digit"]) == {"side", "stacked"}
    assert 0 <= record["metrics"]["test_accuracy"] <= 1
    assert (out / "model.weights.h5").stat().st_size < 2_000_000   # no optimizer state
    (_, _), (x_test, _) = load_mnist(subset=True)
    model = build_model("capsule", routings=2)
    model.load_weights(out / "model.weights.h5")
    assert model.predict(to_model_input(x_test[:4]), verbose=0).shape == (4, 10)
