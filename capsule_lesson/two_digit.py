"""The article's generalisation test: train on one digit, test on two (我的实验).

Each test image is joined to a shuffled partner; pairs showing the same digit twice are dropped, and
the label of a pair is its two digits, sorted. A model scores 10 classes independently (sigmoid outputs
or capsule norms), so it can say "both 3 and 7" without ever having seen two digits at once.
"""

from typing import NamedTuple

import numpy as np

from .checks import integer_labels, numeric_array

LAYOUTS = ("side", "stacked")


def partners(n, seed=0):
    """The partner of each of ``n`` images in the two-image tests: one seeded permutation (the pairing rule)."""
    return np.random.default_rng(seed).permutation(n)


def two_digit_test_set(x, y, seed=0, layout="side"):
    """Pair each image with a shuffled partner.

    Args:
        x: images ``(n, h, w)`` or ``(n, h, w, channels)``; y: integer labels ``(n,)``.
        layout: ``"stacked"`` joins along the height (56x28, as the article's code does; its figures are
            for this layout), ``"side"`` along the width (28x56; the article's text says only that the two
            images are put together).

    Returns:
        ``(images, pairs)``: the kept pairs' images and their labels ``(m, 2)``, sorted per row.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    x = numeric_array(x, "x", dtype=None)      # text, NaN or infinity raise; the images keep their dtype
    y = integer_labels(y, "y")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (n, h, w) or (n, h, w, channels), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be integer labels of shape ({len(x)},), got {y.shape}")
    if len(x) < 2:
        raise ValueError(f"pairing needs at least two images, got {len(x)}")
    partner = partners(len(x), seed)
    images = np.concatenate([x, x[partner]], axis=2 if layout == "side" else 1)
    pairs = np.stack([y, y[partner]], axis=1)
    keep = pairs[:, 0] != pairs[:, 1]
    return images[keep], np.sort(pairs[keep], axis=1)


class PairAccuracy(NamedTuple):
    """``top2``: the two highest scores are the two digits (the article's first accuracy, A).
    ``top2_confident``: also, the second-highest score is above the threshold (its second accuracy, B).
    ``exact_set``: the two highest are the two digits *and* exactly two classes score above the threshold,
    so the scores name the set of digits present and nothing else (B never asks the other classes to stay low).
    ``mean_above``: the mean number of classes scoring above the threshold (2 for a model that names the pair)."""

    top2: float
    top2_confident: float
    exact_set: float
    mean_above: float


def pair_hits(scores, pairs):
    """Per pair, whether the two highest of the class scores ``(m, classes)`` are the pair's two classes
    ``(m, 2)``: a boolean ``(m,)``, whose mean is accuracy A."""
    scores, pairs = numeric_array(scores, "scores"), np.asarray(pairs)
    if scores.ndim != 2 or pairs.ndim != 2 or pairs.shape[1] != 2 or len(scores) != len(pairs):
        raise ValueError(
            f"scores must be (m, classes) and pairs (m, 2) with the same m, got {scores.shape} "
            f"and {pairs.shape}")
    if len(scores) == 0:
        raise ValueError("no pairs to score")
    pairs = integer_labels(pairs, "pairs", classes=scores.shape[1])
    top2 = np.sort(np.argsort(scores, axis=1)[:, -2:], axis=1)
    return np.all(top2 == np.sort(pairs, axis=1), axis=1)


def pair_accuracies(scores, pairs, threshold=0.5):
    """Accuracies A and B of the article, the exact-set accuracy and the mean count of classes above
    ``threshold``, for class scores ``(m, classes)`` against sorted pairs ``(m, 2)``."""
    hit = pair_hits(scores, pairs)
    threshold = float(numeric_array(threshold, "threshold"))
    scores = np.asarray(scores)
    second_score = np.sort(scores, axis=1)[:, -2]
    above = np.sum(scores > threshold, axis=1)
    return PairAccuracy(float(hit.mean()), float((hit & (second_score > threshold)).mean()),
                        float((hit & (above == 2)).mean()), float(above.mean()))


class SingleAccuracy(NamedTuple):
    """Scores of images that hold one digit: ``top1`` (the highest score is the digit), ``exactly_one``
    (the digit is the only class above the threshold) and ``mean_above`` (classes above it, on average)."""

    top1: float
    exactly_one: float
    mean_above: float


def single_accuracies(scores, labels, threshold=0.5):
    """:class:`SingleAccuracy` of class scores ``(m, classes)`` against integer labels ``(m,)``."""
    scores = numeric_array(scores, "scores")
    if scores.ndim != 2 or np.ndim(labels) != 1 or len(scores) != len(labels):
        raise ValueError(f"scores must be (m, classes) and labels (m,) with the same m, got {scores.shape} "
                         f"and {np.shape(labels)}")
    if len(scores) == 0:
        raise ValueError("no images to score")
    labels = integer_labels(labels, "labels", classes=scores.shape[1])
    threshold = float(numeric_array(threshold, "threshold"))
    above = scores > threshold
    rows = np.arange(len(scores))
    exactly_one = above[rows, labels] & (above.sum(axis=1) == 1)
    return SingleAccuracy(float(np.mean(scores.argmax(axis=1) == labels)), float(exactly_one.mean()),
                          float(above.sum(axis=1).mean()))


def one_digit_blank_test_set(x, y, seed=0, layout="stacked"):
    """Each image joined to an all-black image of the same size, in ``layout``, on a random side.

    The two-digit test's canvas with one digit on it: a model that names the digits present should give
    exactly one class a high score. ``x (n, h, w[, channels])``, ``y (n,)``; returns ``(images, y)`` with
    images ``(n, 2h, w[, c])`` (stacked) or ``(n, h, 2w[, c])`` (side); the digit is first where a seeded coin
    says so, second otherwise.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    x = numeric_array(x, "x", dtype=None)
    y = integer_labels(y, "y")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (n, h, w) or (n, h, w, channels), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be integer labels of shape ({len(x)},), got {y.shape}")
    axis = 2 if layout == "side" else 1
    blank = np.zeros_like(x)
    digit_first = np.random.default_rng(seed).random(len(x)) < 0.5
    first = np.where(digit_first.reshape((-1,) + (1,) * (x.ndim - 1)), x, blank)
    second = np.where(digit_first.reshape((-1,) + (1,) * (x.ndim - 1)), blank, x)
    return np.concatenate([first, second], axis=axis), y


def found_by_class(scores, pairs, classes=10):
    """For each class k: the share of the pairs containing k in which k is among the two highest scores.

    ``scores (m, classes)``, ``pairs (m, 2)``; returns ``(classes,)`` (NaN for a class in no pair). It says
    *which* items a model misses when it misses a pair (accuracy A counts a pair as one hit or miss).
    """
    scores, pairs = numeric_array(scores, "scores"), np.asarray(pairs)
    if scores.ndim != 2 or scores.shape[1] != classes or pairs.shape != (len(scores), 2):
        raise ValueError(f"scores must be (m, {classes}) and pairs (m, 2) with the same m, got {scores.shape} "
                         f"and {pairs.shape}")
    pairs = integer_labels(pairs, "pairs", classes=classes)
    top2 = np.argsort(scores, axis=1)[:, -2:]
    found = np.zeros(classes)
    present = np.zeros(classes)
    for column in (0, 1):
        k = pairs[:, column]
        hit = np.any(top2 == k[:, None], axis=1)
        np.add.at(present, k, 1)
        np.add.at(found, k, hit)
    with np.errstate(invalid="ignore", divide="ignore"):
        return found / present
