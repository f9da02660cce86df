"""Canvas training: each training digit on the two-digit test's canvas beside a blank image."""

import json

import numpy as np
import pytest

from capsule_lesson import load_mnist
from capsule_lesson.canvas import OneDigitCanvas
from capsule_lesson.train import main as train_main


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = load_mnist(subset=True)
    return x[:300], y[:300]


def test_batches_alternate_layouts_and_hold_one_digit_each(digits):
    x, y = digits
    data = OneDigitCanvas(x, y, batch_size=64, seed=3)
    assert len(data) == 5
    shapes = [data[i][0].shape for i in range(3)]
    assert shapes == [(64, 28, 56, 1), (64, 56, 28, 1), (64, 28, 56, 1)]
    images, targets = data[0]
    assert np.all(targets.sum(axis=1) == 1)
    take = data.order[:64]
    halves = (images[..., :28, 0], images[..., 28:, 0])          # side: left and right
    for k in range(64):
        digit = x[take[k]] / 255.0
        which = [np.allclose(h[k], digit) for h in halves]
        blank = [np.all(h[k] == 0) for h in halves]
        assert which[0] != which[1] and blank == [not w for w in which]
        assert targets[k].argmax() == y[take[k]]
    first = [data[i][0] for i in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(first, [OneDigitCanvas(x, y, 64, seed=3)[i][0] for i in range(2)]))
    data.on_epoch_end()
    assert data[0][0].shape == (64, 56, 28, 1)                   # the next epoch starts with the other layout
    assert not np.array_equal(data.order, OneDigitCanvas(x, y, 64, seed=3).order)
    with pytest.raises(ValueError, match="same number"):
        OneDigitCanvas(x, y[:10])


def test_training_script_trains_on_the_canvas(tmp_path):
    out = tmp_path / "run"
    train_main(["--model", "capsule", "--subset", "--epochs", "1", "--train-limit", "256", "--out", str(out),
                "--verbose", "0", "--canvas", "true", "--trunk-bias", "false", "--aggregate", "mean",
                "--leaky", "true"])
    record = json.loads((out / "record.json").read_text())
    assert record["config"]["canvas"] is True and record["config"]["trunk_bias"] is False
    assert record["config"]["aggregate"] == "mean" and record["config"]["leaky"] is True
    assert record["parameters"] == 279_488 - (64 + 64 + 128 + 128)
    assert set(record["metrics"]["one_digit_blank"]) == {"side", "stacked"}
    with pytest.raises(ValueError, match="canvas training is for the cnn and capsule"):
        train_main(["--model", "capsule_decoder", "--subset", "--out", str(tmp_path / "x"), "--canvas", "true"])
