"""The article's generalisation test: train on one digit, test on two (section 6).

Each test image is joined to a shuffled partner; pairs showing the same digit twice are dropped, and
the label of a pair is its two digits, sorted. A model scores 10 classes independently (sigmoid outputs
or capsule norms), so it can say "both 3 and 7" without ever having seen two digits at once.
"""

from typing import NamedTuple

import numpy as np

from .checks import integer_labels, numeric_array

LAYOUTS = ("side", "stacked")


def two_digit_test_set(x, y, seed=0, layout="side"):
    """Pair each image with a shuffled partner.

    Args:
        x: images ``(n, h, w)`` or ``(n, h, w, channels)``; y: integer labels ``(n,)``.
        layout: ``"side"`` joins along the width (28x56, as the article's text says);
            ``"stacked"`` along the height (56x28, as its code does).

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
    partner = np.random.default_rng(seed).permutation(len(x))
    images = np.concatenate([x, x[partner]], axis=2 if layout == "side" else 1)
    pairs = np.stack([y, y[partner]], axis=1)
    keep = pairs[:, 0] != pairs[:, 1]
    return images[keep], np.sort(pairs[keep], axis=1)


class PairAccuracy(NamedTuple):
    """``top2``: the two highest scores are the two digits (the article's first accuracy).
    ``top2_confident``: also, the second-highest score is above 0.5 (its second accuracy)."""

    top2: float
    top2_confident: float


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
    """The article's two accuracies for class scores ``(m, classes)`` against sorted pairs ``(m, 2)``."""
    hit = pair_hits(scores, pairs)
    threshold = float(numeric_array(threshold, "threshold"))
    second_score = np.sort(np.asarray(scores), axis=1)[:, -2]
    return PairAccuracy(float(hit.mean()), float((hit & (second_score > threshold)).mean()))


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
