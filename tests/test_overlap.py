"""Tests for capsule_lesson.overlap, the overlapping-digits test of notebook 10."""

import numpy as np
import pytest

from capsule_lesson import two_digit_test_set
from capsule_lesson.overlap import (
    box_overlap, ink_overlap, main, multimnist_offsets, multimnist_pairs, overlay_pairs, partners, sweep,
)
from capsule_lesson.inspection import predict_scores

MARK_COL = 5


def marked_digits(n=120, seed=0):
    """Images whose only ink is one pixel at row (label + 9), column 5: the pixel tells where a digit
    with which label was drawn."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = np.zeros((n, 28, 28), np.uint8)
    x[np.arange(n), y + 9, MARK_COL] = 255
    return x, y


def random_digits(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("dx, dy, layout", [(28, 0, "side"), (0, 28, "stacked")])
def test_side_by_side_and_stacked_are_the_articles_layouts(dx, dy, layout):
    x, y = random_digits()
    images, pairs = overlay_pairs(x, y, dx, dy, seed=4)
    ref_images, ref_pairs = two_digit_test_set(x, y, seed=4, layout=layout)
    np.testing.assert_array_equal(images, ref_images)
    np.testing.assert_array_equal(pairs, ref_pairs)


def test_full_overlap_is_the_pixelwise_maximum():
    x, y = random_digits()
    images, pairs = overlay_pairs(x, y, 0, 0, seed=1)
    p = partners(len(x), 1)
    keep = y != y[p]
    np.testing.assert_array_equal(images, np.maximum(x, x[p])[keep])
    assert images.shape[1:] == (28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(pairs, np.sort(np.stack([y, y[p]], 1)[keep], 1))


@pytest.mark.parametrize("dx, dy", [(5, 0), (-7, 3), (0, -2), (13, 11), (40, 0)])
def test_each_digit_lands_where_it_should(dx, dy):
    x, y = marked_digits()
    images, pairs = overlay_pairs(x, y, dx, dy, seed=2)
    assert images.shape[1:] == (28 + abs(dy), 28 + abs(dx))
    p = partners(len(x), 2)
    keep = y != y[p]
    a, b = y[keep], y[p][keep]
    for img, la, lb in zip(images, a, b):
        expected = {(max(0, -dy) + la + 9, max(0, -dx) + MARK_COL), (max(0, dy) + lb + 9, max(0, dx) + MARK_COL)}
        assert set(zip(*np.nonzero(img))) == expected
    assert np.all(pairs[:, 0] < pairs[:, 1])                      # distinct, sorted
    np.testing.assert_array_equal(pairs, np.sort(np.stack([a, b], 1), 1))


def test_same_pairs_at_every_shift_and_seeded():
    x, y = random_digits()
    p0 = overlay_pairs(x, y, 0, seed=3)[1]
    for s in (4, 12, 28):
        np.testing.assert_array_equal(overlay_pairs(x, y, s, seed=3)[1], p0)
    np.testing.assert_array_equal(multimnist_pairs(x, y, seed=3)[1], p0)
    assert not np.array_equal(overlay_pairs(x, y, 0, seed=5)[1], p0)


def test_channel_axis_kept():
    x, y = random_digits()
    images, _ = overlay_pairs(x[..., None], y, 6, 2)
    assert images.shape[1:] == (30, 34, 1)
    images, _ = multimnist_pairs(x[..., None], y, max_shift=2)
    assert images.shape[1:] == (32, 32, 1)


def test_multimnist_canvas_offsets_and_content():
    x, y = marked_digits()
    images, pairs = multimnist_pairs(x, y, max_shift=4, seed=7)
    assert images.shape[1:] == (36, 36)
    first, second = multimnist_offsets(len(x), 4, seed=7)
    assert first.min() >= 0 and first.max() <= 8 and second.max() <= 8
    assert len(np.unique(first[:, 1])) == 9                        # every shift from -4 to 4 occurs
    p = partners(len(x), 7)
    keep = y != y[p]
    for img, (t1, l1), (t2, l2), la, lb in zip(images, first[keep], second[keep], y[keep], y[p][keep]):
        assert set(zip(*np.nonzero(img))) == {(t1 + la + 9, l1 + MARK_COL), (t2 + lb + 9, l2 + MARK_COL)}
    again = multimnist_pairs(x, y, max_shift=4, seed=7)[0]
    np.testing.assert_array_equal(images, again)
    other = multimnist_pairs(x, y, max_shift=4, seed=8)[0]
    assert not np.array_equal(images, other)


def test_multimnist_without_shift_is_full_overlap():
    x, y = random_digits()
    np.testing.assert_array_equal(multimnist_pairs(x, y, 0, seed=1)[0], overlay_pairs(x, y, 0, 0, seed=1)[0])


def test_overlap_measures():
    assert box_overlap(0) == 1.0 and box_overlap(28) == 0.0 and box_overlap(40) == 0.0
    assert box_overlap(14, 14) == pytest.approx(0.25)
    x = np.zeros((20, 28, 28), np.uint8)
    x[:, 10:18, 4:12] = 200                                       # every "digit" is the same 8x8 block
    y = np.arange(20) % 10
    np.testing.assert_allclose(ink_overlap(x, y, 0), 1.0)
    np.testing.assert_allclose(ink_overlap(x, y, 4), 0.5)          # half the block slides off the other
    np.testing.assert_allclose(ink_overlap(x, y, 8), 0.0)
    assert len(ink_overlap(x, y, 4)) == len(overlay_pairs(x, y, 4)[1])


def test_bad_inputs():
    x, y = random_digits()
    with pytest.raises(ValueError, match="dx must be an integer"):
        overlay_pairs(x, y, 2.5)
    with pytest.raises(ValueError, match="shape"):
        overlay_pairs(x[0], y, 2)
    with pytest.raises(ValueError, match="labels"):
        overlay_pairs(x, y[:-1], 2)
    with pytest.raises(ValueError, match="max_shift must be >= 0"):
        multimnist_pairs(x, y, -1)


def label_reader(images):
    """A perfect 'model' for marked digits: score 1 for each label whose mark row has ink."""
    images = np.asarray(images)
    ink_rows = images.max(axis=2) > 0                              # (n, h)
    scores = np.zeros((len(images), 10))
    for label in range(10):
        scores[:, label] = ink_rows[:, label + 9]
    return scores


def test_sweep_rows():
    x, y = marked_digits()
    rows = sweep({"reader": label_reader, "blind": lambda im: np.zeros((len(im), 10))}, x, y,
                 shifts=(0, 10, 28), max_shift=None)
    assert [(r["model"], r["shift"]) for r in rows] == [("reader", 0), ("reader", 10), ("reader", 28),
                                                        ("blind", 0), ("blind", 10), ("blind", 28)]
    assert all(r["top2"] == 1.0 and r["top2_confident"] == 1.0 for r in rows[:3])
    assert all(r["top2_confident"] == 0.0 for r in rows[3:])
    assert rows[0]["pairs"] == len(overlay_pairs(x, y, 0)[1])
    rows = sweep({"blind": lambda im: np.zeros((len(im), 10))}, x, y, shifts=(0,), max_shift=4)
    assert [r["test"] for r in rows] == ["overlay", "multimnist"] and np.isnan(rows[1]["ink_overlap"])


def test_score_images_runs_a_keras_model():
    import keras

    from capsule_lesson import capsule_model

    keras.utils.set_random_seed(0)
    model = capsule_model()
    x, _ = random_digits(5)
    scores = predict_scores(model, overlay_pairs(x, np.arange(5), 8)[0], batch_size=2)
    assert scores.shape == (5, 10) and np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    with pytest.raises(ValueError, match="no images"):
        predict_scores(model, x[:0])


def test_command_line_writes_csv(tmp_path, monkeypatch):
    x, y = marked_digits(40)
    monkeypatch.setattr("capsule_lesson.overlap.load_mnist_test", lambda: (x, y))
    monkeypatch.setattr("capsule_lesson.overlap.load_pretrained", lambda name: label_reader)
    monkeypatch.setattr("capsule_lesson.overlap.predict_scores", lambda model, images: model(images))
    out = tmp_path / "overlap.csv"
    main(["--limit", "30", "--shifts", "0", "28", "--models", "a", "b", "--out", str(out)])
    lines = out.read_text().strip().splitlines()
    assert lines[0] == "model,test,shift,pairs,top2,top2_confident,ink_overlap"
    assert len(lines) == 1 + 2 * 3 and lines[1].startswith("a,overlay,0,")
