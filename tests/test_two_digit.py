import numpy as np
import pytest

from capsule_lesson import (found_by_class, one_digit_blank_test_set, pair_accuracies, pair_hits, single_accuracies,
                            two_digit_test_set)


def digits(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = np.zeros((n, 28, 28), np.uint8)
    x[np.arange(n), y, 0] = 255          # mark each image with its label, to trace the pairing
    return x, y


@pytest.mark.parametrize("layout, shape", [("side", (28, 56)), ("stacked", (56, 28))])
def test_layouts_and_labels(layout, shape):
    x, y = digits()
    images, pairs = two_digit_test_set(x, y, seed=3, layout=layout)
    assert images.shape[1:] == shape
    assert np.all(pairs[:, 0] < pairs[:, 1])                      # distinct, sorted
    halves = (images[:, :, :28], images[:, :, 28:]) if layout == "side" else (images[:, :28], images[:, 28:])
    marks = np.sort(np.stack([h[:, :, 0].argmax(1) for h in halves], 1), 1)
    np.testing.assert_array_equal(marks, pairs)                  # each image holds the digits it is labelled with
    assert len(pairs) < len(y) and len(pairs) > 0.8 * len(y)    # about 1/10 of pairs repeat a digit


def test_seeded_and_channel_axis_kept():
    x, y = digits()
    a = two_digit_test_set(x, y, seed=1)
    b = two_digit_test_set(x, y, seed=1)
    c = two_digit_test_set(x, y, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    images, _ = two_digit_test_set(x[..., None], y, layout="side")
    assert images.shape[1:] == (28, 56, 1)


def test_bad_inputs():
    x, y = digits()
    with pytest.raises(ValueError, match="unknown layout 'diagonal'"):
        two_digit_test_set(x, y, layout="diagonal")
    with pytest.raises(ValueError, match="y must be integer labels"):
        two_digit_test_set(x, y[:-1])


def test_pair_accuracies_by_hand():
    scores = np.array([[0.9, 0.8, 0.1],    # top-2 {0,1}, second 0.8  -> A and B
                       [0.9, 0.3, 0.1],    # top-2 {0,1}, second 0.3  -> A only
                       [0.1, 0.9, 0.95],   # top-2 {1,2}, wrong pair  -> neither
                       [0.6, 0.1, 0.7]])   # top-2 {0,2}, second 0.6  -> A and B
    pairs = np.array([[0, 1], [1, 0], [0, 1], [0, 2]])
    acc = pair_accuracies(scores, pairs)
    assert acc.top2 == pytest.approx(0.75) and acc.top2_confident == pytest.approx(0.5)
    # exactly the pair above 0.5: rows 0 and 3 (row 1 has one class above, row 2 the wrong two)
    assert acc.exact_set == pytest.approx(0.5) and acc.mean_above == pytest.approx(7 / 4)
    top2, confident, exact, above = acc
    assert (top2, confident, exact, above) == (acc.top2, acc.top2_confident, acc.exact_set, acc.mean_above)
    strict = pair_accuracies(scores, pairs, threshold=0.85)   # only row 0 keeps both its digits above
    assert strict.top2_confident == pytest.approx(0.0) and strict.mean_above == pytest.approx(4 / 4)


def test_exact_set_needs_the_other_classes_low():
    # A and B count this pair as found although five absent classes score above 0.5; the exact set does not.
    scores = np.array([[0.95, 0.9, 0.8, 0.7, 0.6, 0.55, 0.52, 0.1, 0.1, 0.1]])
    acc = pair_accuracies(scores, [[0, 1]])
    assert (acc.top2, acc.top2_confident, acc.exact_set, acc.mean_above) == (1.0, 1.0, 0.0, 7.0)


def test_single_accuracies_by_hand():
    scores = np.array([[0.9, 0.2, 0.1],    # right, alone above 0.5
                       [0.9, 0.6, 0.1],    # right, but a second class above
                       [0.3, 0.4, 0.1],    # right top-1, nothing above
                       [0.7, 0.1, 0.2]])   # wrong
    acc = single_accuracies(scores, [0, 0, 1, 2])
    assert acc.top1 == pytest.approx(0.75)
    assert acc.exactly_one == pytest.approx(0.25)
    assert acc.mean_above == pytest.approx(4 / 4)
    with pytest.raises(ValueError, match="scores must be"):
        single_accuracies(scores, [0, 1])


@pytest.mark.parametrize("layout, shape", [("stacked", (56, 28)), ("side", (28, 56))])
def test_one_digit_blank_test_set(layout, shape):
    rng = np.random.default_rng(1)
    x = rng.integers(1, 256, size=(200, 28, 28)).astype(np.uint8)   # no blank pixel in any digit
    y = rng.integers(0, 10, size=200)
    images, labels = one_digit_blank_test_set(x, y, seed=3, layout=layout)
    assert images.shape == (200,) + shape and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, y)
    axis = 1 if layout == "stacked" else 2
    first, second = np.split(images, 2, axis=axis)
    first_holds = (first > 0).all(axis=(1, 2))
    # each image: one half is the digit itself, the other all black, and both sides occur
    assert np.all(first_holds != (second > 0).all(axis=(1, 2)))
    assert np.all((first == 0).all(axis=(1, 2)) == ~first_holds)
    np.testing.assert_array_equal(np.where(first_holds[:, None, None], first, second), x)
    assert 0.3 < first_holds.mean() < 0.7
    again, _ = one_digit_blank_test_set(x, y, seed=3, layout=layout)
    np.testing.assert_array_equal(images, again)


def test_pair_accuracies_shape_errors():
    with pytest.raises(ValueError, match="scores must be"):
        pair_accuracies(np.zeros((3, 10)), np.zeros((4, 2)))


def test_found_by_class_by_hand():
    scores = np.array([[0.9, 0.8, 0.1, 0.0],     # pair (0, 1): both found
                       [0.9, 0.1, 0.8, 0.0],     # pair (0, 3): 3 missed (2 is second)
                       [0.1, 0.2, 0.9, 0.8]])    # pair (2, 3): both found
    pairs = np.array([[0, 1], [0, 3], [2, 3]])
    found = found_by_class(scores, pairs, classes=4)
    np.testing.assert_allclose(found, [1.0, 1.0, 1.0, 0.5])
    assert np.isnan(found_by_class(scores[:1], pairs[:1], classes=4)[2])          # class 2 in no pair
    with pytest.raises(ValueError, match=r"scores must be \(m, 10\)"):
        found_by_class(scores, pairs)
    with pytest.raises(ValueError, match="pairs"):
        found_by_class(scores, pairs[:2], classes=4)


def test_pair_hits_is_accuracy_a_per_pair():
    scores = np.array([[0.9, 0.8, 0.1], [0.9, 0.1, 0.8], [0.1, 0.9, 0.8]])
    pairs = np.array([[0, 1], [0, 1], [2, 1]])                       # the last pair given unsorted
    np.testing.assert_array_equal(pair_hits(scores, pairs), [True, False, True])
    assert pair_accuracies(scores, pairs).top2 == pytest.approx(pair_hits(scores, pairs).mean())
    with pytest.raises(ValueError, match="scores must be"):
        pair_hits(scores, pairs[:2])
