"""The reconstruction decoder: masking, loss, training, the three views, save/load."""

import json

import keras
import numpy as np
import pytest

from capsule_lesson import (MaskCapsules, ReconstructionLoss, capsule_decoder_model, decoder_views,
                            dimension_sweep, within_class_stats)
from capsule_lesson.train import main as train_main


def test_mask_keeps_the_longest_capsule_or_the_given_one():
    caps = np.zeros((2, 3, 4), "float32")
    caps[0, 1] = [1, 1, 0, 0]          # sample 0: capsule 1 longest
    caps[0, 2] = [0.5, 0, 0, 0]
    caps[1, 0] = [0, 0, 0, 2]          # sample 1: capsule 0 longest
    caps[1, 2] = [0, 1, 0, 0]
    longest = keras.ops.convert_to_numpy(MaskCapsules()(caps))
    assert longest.shape == (2, 12)
    np.testing.assert_array_equal(longest.reshape(2, 3, 4)[0], [[0] * 4, [1, 1, 0, 0], [0] * 4])
    np.testing.assert_array_equal(longest.reshape(2, 3, 4)[1], [[0, 0, 0, 2], [0] * 4, [0] * 4])
    keep = np.eye(3, dtype="float32")[[2, 2]]
    given = keras.ops.convert_to_numpy(MaskCapsules()([caps, keep])).reshape(2, 3, 4)
    np.testing.assert_array_equal(given[:, :2], 0)
    np.testing.assert_array_equal(given[:, 2], caps[:, 2])


def test_mask_rejects_bad_shapes():
    with pytest.raises(ValueError, match="num_capsule, dim_capsule"):
        MaskCapsules()(np.zeros((2, 12), "float32"))
    with pytest.raises(ValueError, match=r"one-hot mask must have shape \(batch, 3\)"):
        MaskCapsules()([np.zeros((2, 3, 4), "float32"), np.zeros((2, 5), "float32")])


def test_reconstruction_loss_is_the_summed_squared_error_per_image():
    rng = np.random.default_rng(0)
    x, x_hat = rng.random((3, 28, 28, 1)), rng.random((3, 28, 28, 1))
    per_image = keras.ops.convert_to_numpy(ReconstructionLoss().call(x.astype("float32"), x_hat.astype("float32")))
    np.testing.assert_allclose(per_image, ((x - x_hat) ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = capsule_decoder_model(recon_weight=0.01)
    rng = np.random.default_rng(0)
    x = (rng.random((16, 28, 28, 1)) < 0.2).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 10, 10)
    history = model.fit([x, y], [y, x], epochs=6, batch_size=16, verbose=0)
    return model, x, y, history.history


def test_decoder_model_shapes_parameters_and_training(trained):
    model, x, y, history = trained
    assert model.count_params() == 279_488 + (160 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784)
    scores, redrawn = model.predict([x[:2], y[:2]], verbose=0)
    assert scores.shape == (2, 10) and redrawn.shape == (2, 28, 28, 1)
    assert np.all((redrawn >= 0) & (redrawn <= 1))
    assert history["decoder_loss"][-1] < history["decoder_loss"][0]   # it learns to redraw
    with pytest.raises(ValueError, match="recon_weight must be a number >= 0"):
        capsule_decoder_model(recon_weight=-1)


def test_views_share_the_trained_weights(trained):
    model, x, y, _ = trained
    views = decoder_views(model)
    scores, capsules, redrawn = views.reconstruct.predict(x[:4], verbose=0)
    longest = keras.utils.to_categorical(scores.argmax(1), 10)
    train_scores, train_redrawn = model.predict([x[:4], longest], verbose=0)
    np.testing.assert_allclose(scores, train_scores, atol=1e-6)
    np.testing.assert_allclose(redrawn, train_redrawn, atol=1e-6)
    np.testing.assert_allclose(views.classify.predict(x[:4], verbose=0), scores, atol=1e-6)
    assert views.classify.predict(np.zeros((1, 28, 56, 1)), verbose=0).shape == (1, 10)  # any image size
    digit = int(scores[0].argmax())
    np.testing.assert_allclose(views.decode(capsules[0, digit], digit)[0], redrawn[0, ..., 0], atol=1e-5)
    with pytest.raises(ValueError, match=r"digit must lie in 0\.\.9"):
        views.decode(capsules[0, 0], 10)
    with pytest.raises(ValueError, match=r"poses of shape \(16,\)"):
        views.decode(np.zeros(15), 0)


def test_decoder_model_saves_and_loads(trained, tmp_path):
    model, x, y, _ = trained
    model.save(tmp_path / "decoder.keras")
    loaded = keras.models.load_model(tmp_path / "decoder.keras")
    for a, b in zip(loaded.predict([x[:2], y[:2]], verbose=0), model.predict([x[:2], y[:2]], verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_dimension_sweep():
    poses = dimension_sweep(np.zeros(16), 3, np.linspace(-0.25, 0.25, 5))
    assert poses.shape == (5, 16)
    np.testing.assert_allclose(poses[:, 3], [-0.25, -0.125, 0, 0.125, 0.25])
    assert np.count_nonzero(np.delete(poses, 3, axis=1)) == 0
    with pytest.raises(ValueError, match="dim must be in 0..15"):
        dimension_sweep(np.zeros(16), 16, [0.1])


def test_within_class_stats_by_hand():
    # class 0: two capsules along (1, 0) of lengths 1 and 3; class 1: (0, 1) and (1, 0), at 90 degrees
    own = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    stats = within_class_stats(own, labels)
    np.testing.assert_array_equal(stats.classes, [0, 1])
    np.testing.assert_allclose(stats.std, [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(stats.cosine, [1, 1, np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(stats.cosine_by_class, [1, np.sqrt(0.5)])
    np.testing.assert_allclose(stats.spread, [1.0, np.sqrt(0.5)])
    # the (N, classes, D) form picks each image's own-class capsule first
    everything = np.zeros((4, 2, 2))
    everything[np.arange(4), labels] = own
    everything[np.arange(4), 1 - labels] = 9.0
    np.testing.assert_allclose(within_class_stats(everything, labels).std, stats.std)


def test_within_class_stats_edges_and_errors():
    zero = within_class_stats(np.zeros((3, 4)), np.array([2, 2, 2]))
    assert np.all(np.isfinite(zero.cosine)) and np.all(zero.cosine == 0)
    with pytest.raises(ValueError, match="labels must be"):
        within_class_stats(np.zeros((3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        within_class_stats(np.zeros((2, 2, 4)), np.array([0, 2]))
    with pytest.raises(ValueError, match="capsules must be"):
        within_class_stats(np.zeros((2, 2, 2, 4)), np.array([0, 1]))


def test_training_script_trains_the_decoder_model(tmp_path):
    out = tmp_path / "run"
    train_main(["--model", "capsule_decoder", "--subset", "--epochs", "1", "--train-limit", "128",
                "--out", str(out), "--verbose", "0", "--recon-weight", "0.001"])
    record = json.loads((out / "record.json").read_text())
    assert record["model"] == "capsule_decoder" and record["config"]["recon_weight"] == 0.001
    assert 0 < record["metrics"]["reconstruction_sse"] < 784
    assert set(record["metrics"]["two_digit"]) == {"side", "stacked"}
    with pytest.raises(SystemExit):
        train_main(["--model", "cnn", "--subset", "--out", str(tmp_path / "x"), "--recon-weight", "0.1"])
