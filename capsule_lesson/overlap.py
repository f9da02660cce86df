"""Overlapping digits: a MultiMNIST-style test for models trained on single digits (notebook 10).

The article's test (我的实验, :mod:`capsule_lesson.two_digit`) puts two digits *next to* each other.
Sabour et al. (2017) test capsules on *overlapping* digits instead (MultiMNIST: two digits of different
classes, each shifted by up to 4 pixels, drawn on top of each other on a 36x36 canvas). This module builds
both kinds of overlap from any set of single digits, so a model trained on single 28x28 digits can be asked
where the side-by-side result stops holding.

* :func:`overlay_pairs` draws the second digit a fixed ``(dx, dy)`` pixels away from the first, on the
  smallest canvas that holds both (``(28 + |dy|) x (28 + |dx|)``): nothing is clipped, and the canvas
  grows with the distance. ``dx = dy = 0`` is full overlap; ``dx = 28, dy = 0`` is exactly the article's
  side-by-side layout and ``dx = 0, dy = 28`` its stacked one (the same pairs, pixel for pixel).
* :func:`multimnist_pairs` shifts *each* digit independently by up to ``max_shift`` pixels in x and y on a
  square canvas of side ``28 + 2 * max_shift`` (36x36 for 4 pixels, as MultiMNIST).

Overlaid pixels take the **maximum** of the two digits (ink stays ink, and the image stays in 0..255).
The partners are chosen exactly as in :func:`capsule_lesson.two_digit_test_set` with the same ``seed``,
pairs showing the same digit twice are dropped, and the labels are the two digits, sorted per row. So
for one seed every builder here, and the article's test, use the same pairs: accuracies at different
shifts are a paired comparison.

    python -m capsule_lesson.overlap --limit 1000            # the shipped models on a shift sweep (CSV)
    python -m capsule_lesson.overlap --limit 0 --out overlap.csv   # all 10,000 test images (slow on a CPU)
"""

import argparse
import csv
import sys

import numpy as np

from .data import load_mnist, load_mnist_test
from .inspection import predict_scores
from .pretrained import load_pretrained
from .two_digit import pair_accuracies, partners  # noqa: F401  (partners: the pairing rule, defined there)

#: The shift sweep used by notebook 10: from full overlap (0) to side by side (28).
DEFAULT_SHIFTS = (0, 4, 8, 12, 16, 20, 24, 28)


def _check_digits(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (n, h, w) or (n, h, w, channels), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be integer labels of shape ({len(x)},), got {y.shape}")
    return x, y


def _check_shift(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer number of pixels, got {value!r}")
    return int(value)


def _canvas(x, height, width):
    return np.zeros((len(x), height, width) + x.shape[3:], dtype=x.dtype)


def _draw(canvas, images, top, left):
    """Write ``images`` into ``canvas`` with their top-left corners at ``(top[k], left[k])`` (maximum)."""
    h, w = images.shape[1:3]
    top = np.broadcast_to(np.asarray(top), (len(images),))
    left = np.broadcast_to(np.asarray(left), (len(images),))
    rows = top[:, None] + np.arange(h)[None, :]                     # (n, h)
    cols = left[:, None] + np.arange(w)[None, :]                    # (n, w)
    k = np.arange(len(images))[:, None, None]
    region = canvas[k, rows[:, :, None], cols[:, None, :]]
    canvas[k, rows[:, :, None], cols[:, None, :]] = np.maximum(region, images)
    return canvas


def _finish(y, partner):
    pairs = np.stack([y, y[partner]], axis=1)
    keep = pairs[:, 0] != pairs[:, 1]
    return keep, np.sort(pairs[keep], axis=1)


def overlay_pairs(x, y, dx, dy=0, seed=0):
    """Each image with its partner drawn ``dx`` pixels to the right and ``dy`` pixels down, overlaid.

    Args:
        x: images ``(n, h, w)`` or ``(n, h, w, channels)``; y: integer labels ``(n,)``.
        dx, dy: the second digit's offset from the first, in pixels (negative: left / up).
        seed: chooses the partners, as in :func:`capsule_lesson.two_digit_test_set`.

    Returns:
        ``(images, pairs)``: images ``(m, h + |dy|, w + |dx|[, channels])`` (same dtype, pixelwise maximum
        where the digits overlap) and their labels ``(m, 2)``, sorted per row; same-digit pairs dropped.
    """
    x, y = _check_digits(x, y)
    dx, dy = _check_shift("dx", dx), _check_shift("dy", dy)
    h, w = x.shape[1:3]
    partner = partners(len(x), seed)
    canvas = _canvas(x, h + abs(dy), w + abs(dx))
    _draw(canvas, x, max(0, -dy), max(0, -dx))
    _draw(canvas, x[partner], max(0, dy), max(0, dx))
    keep, pairs = _finish(y, partner)
    return canvas[keep], pairs


def multimnist_offsets(n, max_shift=4, seed=0):
    """The random placements :func:`multimnist_pairs` uses: ``(first, second)``, each ``(n, 2)`` as
    (top, left) on the canvas, integers in ``0 .. 2 * max_shift`` (a shift of ``-max_shift .. max_shift``
    around the centre). Drawn after the partners, from the same seeded generator."""
    max_shift = _check_shift("max_shift", max_shift)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    rng = np.random.default_rng(seed)
    rng.permutation(n)                                              # the partners come first
    return (rng.integers(0, 2 * max_shift + 1, size=(n, 2)),
            rng.integers(0, 2 * max_shift + 1, size=(n, 2)))


def multimnist_pairs(x, y, max_shift=4, seed=0):
    """MultiMNIST-style pairs: both digits shifted independently by up to ``max_shift`` pixels in x and y
    and overlaid (maximum) on a square canvas of side ``28 + 2 * max_shift`` (36 for the default).

    Returns ``(images, pairs)`` like :func:`overlay_pairs`. The two digits' offsets from each other are
    therefore between ``-2 * max_shift`` and ``2 * max_shift`` pixels per axis: they always overlap
    heavily (Sabour et al. report an average bounding-box overlap of 80%).
    """
    x, y = _check_digits(x, y)
    h, w = x.shape[1:3]
    first_at, second_at = multimnist_offsets(len(x), max_shift, seed)
    partner = partners(len(x), seed)
    canvas = _canvas(x, h + 2 * max_shift, w + 2 * max_shift)
    _draw(canvas, x, first_at[:, 0], first_at[:, 1])
    _draw(canvas, x[partner], second_at[:, 0], second_at[:, 1])
    keep, pairs = _finish(y, partner)
    return canvas[keep], pairs


def box_overlap(dx, dy=0, size=28):
    """Fraction of one ``size x size`` digit box covered by the other when they are ``(dx, dy)`` apart."""
    dx, dy = np.abs(np.asarray(dx, dtype=float)), np.abs(np.asarray(dy, dtype=float))
    return np.clip(size - dx, 0, None) * np.clip(size - dy, 0, None) / size**2


def ink_overlap(x, y, dx, dy=0, seed=0, threshold=128):
    """Per kept pair: the fraction of the second digit's ink pixels (``>= threshold``) that land on ink of
    the first digit, for the placement of :func:`overlay_pairs` (so the same pairs, in the same order)."""
    x, y = _check_digits(x, y)
    x = (x >= threshold).astype(np.uint8)
    if x.ndim == 4:
        x = x.max(axis=3)
    h, w = x.shape[1:3]
    partner = partners(len(x), seed)
    dx, dy = _check_shift("dx", dx), _check_shift("dy", dy)
    a = _draw(_canvas(x, h + abs(dy), w + abs(dx)), x, max(0, -dy), max(0, -dx))
    b = _draw(_canvas(x, h + abs(dy), w + abs(dx)), x[partner], max(0, dy), max(0, dx))
    keep, _ = _finish(y, partner)
    shared = (a & b).sum(axis=(1, 2))
    ink = np.maximum(b.sum(axis=(1, 2)), 1)
    return (shared / ink)[keep]


def sweep(scorers, x, y, shifts=DEFAULT_SHIFTS, seed=0, max_shift=4):
    """Accuracies A and B of each scorer on :func:`overlay_pairs` at each horizontal shift in ``shifts``
    (``dy = 0``), and on :func:`multimnist_pairs` (``max_shift``; skipped when None).

    ``scorers`` maps a name to a function ``uint8 images (n, h, w) -> scores (n, classes)``.
    Returns a list of dicts with keys ``model, test, shift, pairs, top2, top2_confident, ink_overlap``
    (``test`` is ``"overlay"`` or ``"multimnist"``; ``shift`` is the horizontal offset or ``max_shift``).
    """
    sets = [("overlay", s, *overlay_pairs(x, y, s, 0, seed)) for s in shifts]
    inks = {s: float(ink_overlap(x, y, s, 0, seed).mean()) for s in shifts}
    if max_shift is not None:
        sets.append(("multimnist", max_shift, *multimnist_pairs(x, y, max_shift, seed)))
    rows = []
    for name, score in scorers.items():
        for test, shift, images, pairs in sets:
            acc = pair_accuracies(score(images), pairs)
            rows.append({"model": name, "test": test, "shift": int(shift), "pairs": int(len(pairs)),
                         "top2": acc.top2, "top2_confident": acc.top2_confident,
                         "ink_overlap": inks.get(shift, float("nan")) if test == "overlay" else float("nan")})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m capsule_lesson.overlap",
                                     description="The shipped models on overlapping digits (CSV).")
    parser.add_argument("--limit", type=int, default=1000, help="first N test images (0: all)")
    parser.add_argument("--shifts", type=int, nargs="+", default=list(DEFAULT_SHIFTS))
    parser.add_argument("--max-shift", type=int, default=4, help="MultiMNIST-style shift (-1: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["cnn", "capsule", "capsule_accumulate"])
    parser.add_argument("--data", default=None, help="MNIST .npz or folder (default: the bundled test set)")
    parser.add_argument("--out", default=None, help="CSV file (default: standard output)")
    args = parser.parse_args(argv)

    x, y = load_mnist(args.data)[1] if args.data else load_mnist_test()
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    scorers = {}
    for name in args.models:
        model = load_pretrained(name)
        scorers[name] = lambda images, model=model: predict_scores(model, images)
    rows = sweep(scorers, x, y, args.shifts, args.seed, None if args.max_shift < 0 else args.max_shift)
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if args.out:
            out.close()


if __name__ == "__main__":
    main()
