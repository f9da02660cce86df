"""Looking inside trained models: their class scores on images, each pixel capsule's votes and couplings,
and the quantities the notebooks measure on them. NumPy results; the figures in :mod:`capsule_lesson.plots`
only draw them.
"""

from functools import lru_cache
from typing import NamedTuple

import keras
import numpy as np

from .data import to_model_input
from .layers import Capsule
from .losses import margin_loss
from .routing import dynamic_routing, route
from .two_digit import two_digit_test_set

#: Input-capsule counts for the parameter-count curves: 16, 32, ..., 4096.
DEFAULT_N_IN = tuple(2 ** k for k in range(4, 13))


def predict_scores(model, images, batch_size=250):
    """Class scores of ``model`` for uint8 images ``(n, h, w)``, as a NumPy array ``(n, classes)``.

    Calls the model batch by batch (``training=False``), like ``model.predict`` but without
    ``predict``'s per-shape retracing messages, so notebook outputs stay clean.
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("no images to score")
    out = [keras.ops.convert_to_numpy(model(to_model_input(images[i:i + batch_size]), training=False))
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def pair_sources(n, labels, seed=0, layout="side"):
    """Which two test images make each pair of ``two_digit_test_set(x, labels, seed, layout)``.

    Returns ``(first, second)``: index arrays into the test set, ``first`` on the left (``"side"``) or on
    top (``"stacked"``). Found by running the package's own ``two_digit_test_set`` on "images" whose one
    pixel is the image's index, so it stays right if the pairing rule changes.
    """
    index_images = np.arange(n, dtype=np.int64).reshape(n, 1, 1)
    joined, _ = two_digit_test_set(index_images, np.asarray(labels)[:n], seed=seed, layout=layout)
    flat = joined.reshape(len(joined), 2)
    return flat[:, 0], flat[:, 1]


class CapsuleLook(NamedTuple):
    """What :func:`capsule_couplings` returns (maps on the trunk's grid, ``(n, grid_h, grid_w, classes)``).

    ``norms``: capsule norms ``(n, classes)``; ``couplings``: c_ij of the last routing iteration;
    ``evidence``: c_ij <û_{j|i}, v_j/||v_j||>, how much pixel capsule i adds to the length of class
    capsule j along its final direction (summed over i it gives the projection of s_j on v_j).
    """

    norms: np.ndarray
    couplings: np.ndarray
    evidence: np.ndarray


def pixel_capsules(model, images, batch_size=100):
    """The pixel capsules u_i a capsule model's trunk makes of uint8 ``images``: ``(capsules, grid)`` with
    ``capsules`` of shape ``(n, grid_h * grid_w, channels)`` (float32) and ``grid = (grid_h, grid_w)``, the
    trunk's last feature map (the input of the ``"to_capsules"`` layer)."""
    trunk = keras.Model(model.input, model.get_layer("to_capsules").input)
    maps = [keras.ops.convert_to_numpy(trunk(to_model_input(images[i:i + batch_size]), training=False))
            for i in range(0, len(images), batch_size)]
    fmap = np.concatenate(maps)
    return fmap.reshape(len(fmap), -1, fmap.shape[-1]), tuple(fmap.shape[1:3])


def pixel_votes(model, images, batch_size=100):
    """The capsule model's votes û_{j|i} = W_j u_i for ``images``: ``(u_hat, grid)`` with ``u_hat`` of shape
    ``(n, grid_h * grid_w, classes, dim)`` (float32) and ``grid = (grid_h, grid_w)``, the trunk's last
    feature map. Compute them once and pass ``votes=`` to :func:`capsule_couplings` to try several
    routing settings without rerunning the convolutions.
    """
    layer = model.get_layer("digit_capsules")
    capsules, grid = pixel_capsules(model, images, batch_size)
    votes = [keras.ops.convert_to_numpy(layer.predictions(keras.ops.convert_to_tensor(capsules[i:i + batch_size])))
             for i in range(0, len(capsules), batch_size)]
    return np.concatenate(votes), grid


def capsule_couplings(model, images=None, routings=None, update=None, vote_scale=1.0, batch_size=100,
                      votes=None):
    """Re-run the capsule model's routing in NumPy to look inside it.

    The trunk of ``model`` (up to its ``"to_capsules"`` layer) turns each image into pixel capsules;
    the layer ``"digit_capsules"`` gives the votes û_{j|i} (``Capsule.predictions``; or pass
    ``votes=pixel_votes(model, images)``); then the layer's routing rule (:func:`capsule_lesson.route`) routes
    them (by default with the layer's own ``routings`` and ``update``; pass others to try them on the same weights).
    ``vote_scale`` multiplies every û_{j|i} before routing (e.g. ``64 / 176`` turns the sum over a pair's
    176 pixel capsules into the size of a sum over a single digit's 64: an *average*, as global pooling
    would take). Returns a :class:`CapsuleLook`; with the defaults its ``norms`` are the model's scores
    up to float32 round-off.
    """
    layer = model.get_layer("digit_capsules")
    u_hat_all, grid = pixel_votes(model, images, batch_size) if votes is None else votes
    routings = layer.routings if routings is None else routings
    update = layer.update if update is None else update
    options = {"update": update, "inner_squash": layer.inner_squash} if layer.routing == "dynamic" else {}
    if layer.routing == "kmeans":
        options["temperature"] = layer.temperature
    if layer.leaky:                            # a setting of dynamic and k-means routing only
        options["leaky"] = True
    norms, couplings, evidence = [], [], []
    for i in range(0, len(u_hat_all), batch_size):
        u_hat = u_hat_all[i:i + batch_size] * vote_scale
        result = route(u_hat, layer.routing, routings, squash=layer.squash, k=layer.squash_k,
                       aggregate=layer.aggregate, **options)
        c = result.c_history[-1]
        length = np.linalg.norm(result.v, axis=-1)
        direction = result.v / np.maximum(length, 1e-12)[..., None]
        shape = (len(u_hat),) + tuple(grid) + (-1,)
        norms.append(length)
        couplings.append(c.reshape(shape))
        evidence.append((c * np.einsum("bijd,bjd->bij", u_hat, direction)).reshape(shape))
    return CapsuleLook(np.concatenate(norms), np.concatenate(couplings), np.concatenate(evidence))


def region_shares(maps, layout, single=8):
    """Split maps on the trunk's grid ``(n, grid_h, grid_w)`` of a pair into three regions and return
    each region's share of the total, ``(n, 3)``: cells that see only the first digit, cells that see
    both (the seam), cells that see only the second digit.

    On a 28-pixel-wide digit the trunk's grid is ``single`` = 8 cells wide, so in the ``"side"`` layout
    the first 8 columns see only the left digit and the last 8 only the right one (rows for ``"stacked"``).
    """
    maps = np.asarray(maps, dtype=np.float64)
    if layout == "stacked":
        maps = np.swapaxes(maps, 1, 2)
    elif layout != "side":
        raise ValueError(f"unknown layout {layout!r}")
    cols = maps.sum(axis=1)                                   # (n, grid_w)
    parts = np.stack([cols[:, :single].sum(1), cols[:, single:-single].sum(1), cols[:, -single:].sum(1)], 1)
    return parts / parts.sum(1, keepdims=True)


def margin_loss_terms(scores, m_plus=0.9, m_minus=0.1, lam=0.25):
    """The two terms of :func:`capsule_lesson.margin_loss` for one class, as functions of its score.

    Returns ``(present, absent)``: the loss when the class is in the image (target 1) and when it
    is not (target 0), evaluated by the package's ``MarginLoss`` itself.
    """
    s = np.asarray(scores, dtype=np.float32).reshape(-1, 1)
    loss = margin_loss(m_plus=m_plus, m_minus=m_minus, lam=lam)
    present = keras.ops.convert_to_numpy(loss.call(np.ones_like(s), s))
    absent = keras.ops.convert_to_numpy(loss.call(np.zeros_like(s), s))
    return present.astype(np.float64), absent.astype(np.float64)


def top_two(scores):
    """Highest and second-highest score of each row: ``(top1, top2)``."""
    s = np.sort(np.asarray(scores), axis=1)
    return s[:, -1], s[:, -2]


@lru_cache(maxsize=512)
def layer_parameter_count(n_in, input_dim, num_capsule, dim_capsule, share_weights):
    """``count_params()`` of a real ``Capsule`` layer built for ``(batch, n_in, input_dim)`` inputs.

    The kernel is zero-initialised (the count does not depend on the values, and zeros are cheap
    to allocate); the layer is dropped right after counting and the result is cached.
    """
    layer = Capsule(int(num_capsule), int(dim_capsule), share_weights=bool(share_weights),
                    kernel_initializer="zeros")
    layer.build((None, int(n_in), int(input_dim)))
    count = layer.count_params()
    del layer
    return count


def parameter_counts(n_in_values=DEFAULT_N_IN, input_dim=128, num_capsule=10, dim_capsule=16):
    """Parameter counts of real layers: ``{True: shared counts, False: fully connected counts}``."""
    return {share: np.array([layer_parameter_count(n, input_dim, num_capsule, dim_capsule, share)
                             for n in n_in_values])
            for share in (True, False)}


def mean_couplings(u_hat, labels, label, routings=3):
    """Couplings c_ij after ``routings`` iterations, averaged over the samples whose label is ``label``.

    ``u_hat``: predictions ``(batch, n_in, n_out, dim)``; returns ``(n_in, n_out)``. The couplings are
    the ones that produced the output (``c_history[-1]`` of :func:`capsule_lesson.dynamic_routing`).
    """
    labels = np.asarray(labels)
    chosen = np.asarray(u_hat)[labels == label]
    if len(chosen) == 0:
        raise ValueError(f"no sample has label {label!r}")
    return dynamic_routing(chosen, routings=routings).c_history[-1].mean(axis=0)
