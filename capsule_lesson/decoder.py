"""A reconstruction decoder on the capsule model: what the 16 dimensions of a digit capsule encode.

Sabour, Frosst and Hinton (2017, section 4.1) keep only one digit capsule, zero the other nine, and ask a
small dense network to redraw the input image from those 16 numbers. In training the kept capsule is the
true class's; at test time it is the longest one. The reconstruction error, weighted small, is added to the
margin loss, so the capsule is pushed to carry *how* the digit is drawn, not only *which* digit it is.

    model = capsule_decoder_model()                    # inputs [image, one-hot label], outputs [scores, image]
    model.fit([x, y_onehot], [y_onehot, x], ...)
    views = decoder_views(model)                       # the same weights, seen three ways:
    views.classify(images)                             #   images of any size -> scores (batch, 10)
    views.reconstruct(images)                          #   28x28 images -> [scores, capsules, reconstructions]
    views.decode(pose, digit)                          #   one 16-d pose of one digit capsule -> 28x28 image
"""

from collections import namedtuple

import keras
import numpy as np
from keras import layers, ops

from .checks import integer_labels, numeric_array
from .data import NUM_CLASSES
from .layers import PACKAGE

#: The paper's weight on the summed squared pixel error (784 pixels in [0, 1]).
RECONSTRUCTION_WEIGHT = 0.0005
#: Hidden widths of the decoder. The paper uses (512, 1024); half of each keeps the shipped file small.
DECODER_HIDDEN = (256, 512)
IMAGE_SHAPE = (28, 28, 1)
DIM_CAPSULE = 16


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskCapsules(keras.layers.Layer):
    """Keep one capsule per sample, zero the rest, flatten.

    ``capsules`` ``(batch, J, D)`` -> ``(batch, J*D)``, keeping the longest capsule; or
    ``[capsules, keep]`` with ``keep`` one-hot ``(batch, J)`` (the true class, in training).
    """

    @staticmethod
    def _shapes(input_shape):
        """``(capsules shape, mask shape or None)`` from one shape or a ``[capsules, keep]`` pair of shapes."""
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0]), tuple(input_shape[1])
        return tuple(input_shape), None

    def build(self, input_shape):
        caps_shape, keep_shape = self._shapes(input_shape)
        if len(caps_shape) != 3 or caps_shape[1] is None or caps_shape[2] is None:
            raise ValueError(f"MaskCapsules expects capsules of shape (batch, num_capsule, dim_capsule) "
                             f"with known sizes, got {tuple(caps_shape)}")
        if keep_shape is not None and (len(keep_shape) != 2 or keep_shape[-1] != caps_shape[1]):
            raise ValueError(f"MaskCapsules: the one-hot mask must have shape (batch, {caps_shape[1]}), "
                             f"got {tuple(keep_shape)}")

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            capsules, keep = inputs
            keep = ops.cast(keep, capsules.dtype)
        else:
            capsules = inputs
            longest = ops.argmax(ops.sum(ops.square(capsules), axis=-1), axis=-1)
            keep = ops.one_hot(longest, capsules.shape[1], dtype=capsules.dtype)
        masked = capsules * keep[:, :, None]
        return ops.reshape(masked, (-1, capsules.shape[1] * capsules.shape[2]))

    def compute_output_shape(self, input_shape):
        caps_shape, _ = self._shapes(input_shape)
        return (caps_shape[0], caps_shape[1] * caps_shape[2])


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReconstructionLoss(keras.losses.Loss):
    """Summed squared error per image: ``sum_pixels (x - x_hat)^2``, shape ``(batch,)``."""

    def __init__(self, name="reconstruction_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        error = ops.square(ops.cast(y_true, y_pred.dtype) - y_pred)
        return ops.sum(ops.reshape(error, (ops.shape(error)[0], -1)), axis=-1)


def reconstruction_decoder(num_capsule=NUM_CLASSES, dim_capsule=DIM_CAPSULE, hidden=DECODER_HIDDEN,
                           image_shape=IMAGE_SHAPE):
    """Masked capsules ``(batch, J*D)`` -> Dense ReLU ... -> Dense sigmoid -> image ``(batch, 28, 28, 1)``."""
    stack = [keras.Input((num_capsule * dim_capsule,), name="masked_capsules")]
    stack += [layers.Dense(width, activation="relu", name=f"decoder_hidden{k + 1}") for k, width in enumerate(hidden)]
    stack += [layers.Dense(int(np.prod(image_shape)), activation="sigmoid", name="decoder_pixels"),
              layers.Reshape(image_shape, name="decoder_image")]
    return keras.Sequential(stack, name="decoder")


DecoderViews = namedtuple("DecoderViews", "classify reconstruct decoder decode")


def decoder_views(model):
    """Three models sharing ``model``'s weights, and a ``decode(pose, digit)`` helper (NumPy in, NumPy out).

    ``classify``: image ``(batch, h, w, 1)`` of any size -> scores ``(batch, 10)``.
    ``reconstruct``: image ``(batch, 28, 28, 1)`` -> ``[scores, capsules (batch, 10, 16), reconstruction]``,
    masked by the longest capsule. ``decoder``: masked capsules ``(batch, 160)`` -> image.
    ``decode(pose, digit)``: poses ``(16,)`` or ``(n, 16)`` placed in capsule ``digit`` -> images ``(n, 28, 28)``.
    """
    trunk = ("conv1", "conv2", "pool", "conv3", "conv4", "to_capsules", "digit_capsules")
    names = [layer.name for layer in getattr(model, "layers", [])]
    missing = [name for name in trunk + ("scores", "decoder", "mask") if name not in names]
    if missing:
        raise ValueError(f"decoder_views needs a capsule_decoder_model (or load_pretrained('capsule_decoder')); "
                         f"this model lacks the layers {', '.join(missing)} (it has {', '.join(names) or 'none'})")

    def capsules_of(x):
        for name in trunk:
            x = model.get_layer(name)(x)
        return x

    image = keras.Input((None, None, 1), name="image")
    classify = keras.Model(image, model.get_layer("scores")(capsules_of(image)), name="classify")
    image28 = keras.Input(IMAGE_SHAPE, name="image")
    capsules = capsules_of(image28)
    decoder = model.get_layer("decoder")
    reconstruct = keras.Model(image28, [model.get_layer("scores")(capsules), capsules,
                                        decoder(model.get_layer("mask")(capsules))], name="reconstruct")
    num_capsule, dim_capsule = capsules.shape[1], capsules.shape[2]

    def decode(pose, digit):
        pose = np.atleast_2d(numeric_array(pose, "pose", dtype="float32"))
        if pose.ndim != 2 or pose.shape[1] != dim_capsule:
            raise ValueError(f"decode expects poses of shape ({dim_capsule},) or (n, {dim_capsule}), "
                             f"got {np.shape(pose)}")
        digit = integer_labels(digit, "digit", classes=num_capsule)
        if digit.ndim:
            raise ValueError(f"digit must be one class index, got shape {digit.shape}")
        masked = np.zeros((len(pose), num_capsule, dim_capsule), dtype="float32")
        masked[:, int(digit)] = pose
        images = decoder.predict(masked.reshape(len(pose), -1), verbose=0, batch_size=256)
        return images[..., 0]

    return DecoderViews(classify, reconstruct, decoder, decode)


def reconstruction_error(views, images, batch_size=500):
    """Mean over images of the summed squared pixel error, each image redrawn from its longest capsule."""
    _, _, redrawn = views.reconstruct.predict(images, batch_size=batch_size, verbose=0)
    return float(np.mean(np.sum(np.square(np.asarray(images) - redrawn), axis=(1, 2, 3))))


def dimension_sweep(pose, dim, deltas):
    """Copies of ``pose`` ``(D,)`` with ``pose[dim] + delta`` for each delta: ``(len(deltas), D)``."""
    pose = numeric_array(pose, "pose", dtype="float32")
    deltas = numeric_array(deltas, "deltas", dtype="float32")
    if pose.ndim != 1:
        raise ValueError(f"pose must be one capsule of shape (D,), got {pose.shape}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < pose.shape[0]:
        raise ValueError(f"dim must be in 0..{pose.shape[0] - 1}, got {dim}")
    poses = np.repeat(pose[None], len(deltas), axis=0)
    poses[:, dim] += deltas
    return poses


WithinClass = namedtuple("WithinClass", "classes std cosine cosine_by_class spread")


def within_class_stats(capsules, labels):
    """How much one class's own capsules vary from digit to digit.

    ``capsules`` is ``(N, num_classes, D)`` (every class's capsule) or ``(N, D)`` (each image's own-class
    capsule already picked); ``labels`` is ``(N,)``. For each class ``k`` present, over its images:

    - ``std[k]`` ``(D,)``: the standard deviation of each dimension;
    - ``cosine`` ``(N,)``: each capsule's cosine to the mean direction of its class (1 = same direction);
      ``cosine_by_class[k]`` its mean within the class;
    - ``spread[k]``: the typical distance from the class mean, ``sqrt(sum of the D variances)``.
    """
    capsules, labels = numeric_array(capsules, "capsules"), integer_labels(labels, "labels")
    if labels.ndim != 1 or capsules.shape[:1] != labels.shape:
        raise ValueError(f"labels must be (N,) with N = capsules.shape[0] = {capsules.shape[0]}, got {labels.shape}")
    if capsules.ndim == 3:
        if labels.min() < 0 or labels.max() >= capsules.shape[1]:
            raise ValueError(f"labels must lie in 0..{capsules.shape[1] - 1}, got {labels.min()}..{labels.max()}")
        capsules = capsules[np.arange(len(labels)), labels]
    elif capsules.ndim != 2:
        raise ValueError(f"capsules must be (N, num_classes, D) or (N, D), got shape {capsules.shape}")
    classes = np.unique(labels)
    tiny = np.finfo(np.float64).tiny  # an all-zero capsule gets cosine 0, not NaN
    std, spread, cosine_by_class = [], [], []
    cosine = np.zeros(len(labels))
    for k in classes:
        group = capsules[labels == k]
        mean = group.mean(axis=0)
        direction = mean / max(np.linalg.norm(mean), tiny)
        cosine[labels == k] = group @ direction / np.maximum(np.linalg.norm(group, axis=1), tiny)
        std.append(group.std(axis=0))
        spread.append(np.sqrt(group.var(axis=0).sum()))
        cosine_by_class.append(cosine[labels == k].mean())
    return WithinClass(classes, np.array(std), cosine, np.array(cosine_by_class), np.array(spread))


#: The classic sweep of Sabour et al. (Fig. 4): each dimension moved by -0.25 ... +0.25 in steps of 0.05.
DELTAS = tuple(np.round(np.arange(-0.25, 0.2501, 0.05), 2))


def sweep_grid(decode, pose, digit, dims=range(16), deltas=DELTAS):
    """Images ``(len(dims), len(deltas), 28, 28)``: row d moves dimension d of ``pose`` by each delta."""
    dims = list(dims)
    poses = np.concatenate([dimension_sweep(pose, d, deltas) for d in dims])
    images = np.asarray(decode(poses, digit))
    return images.reshape(len(dims), len(deltas), *images.shape[1:])


def dimension_effect(grid):
    """How much each row's drawing changes: mean |pixel change| between the two ends of the sweep, ``(rows,)``."""
    grid = np.asarray(grid, dtype=float)
    return np.abs(grid[:, -1] - grid[:, 0]).mean(axis=(1, 2))
