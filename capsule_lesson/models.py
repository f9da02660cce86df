"""The article's two models on one shared convolutional trunk (我的实验).

Both take images of any size ``(None, None, 1)`` and output 10 class scores in [0, 1]:
the CNN through global average pooling and a sigmoid, the capsule model through capsule norms.
That is what lets them be trained on 28x28 single digits and tested on 28x56 pairs.
The score layers always compute in float32, also under a mixed-precision policy (see ``precision.py``).
"""

import keras
from keras import layers

from .data import NUM_CLASSES
from .decoder import (DECODER_HIDDEN, IMAGE_SHAPE, RECONSTRUCTION_WEIGHT, MaskCapsules, ReconstructionLoss,
                      reconstruction_decoder)
from .layers import Capsule, CapsuleLength, FeatureMapToCapsules
from .losses import margin_loss

#: The names :func:`build_model` takes.
MODELS = ("cnn", "capsule", "capsule_decoder")
#: Epochs of the article's code for each model (Adam, batch 128).
ARTICLE_EPOCHS = {"cnn": 20, "capsule": 10, "capsule_decoder": 10}


DOWNSAMPLES = ("avgpool", "stride", "none")


def conv_trunk(inputs, *, downsample="avgpool", trunk_bias=True):
    """Conv 64 -> Conv 64 -> AvgPool 2 -> Conv 128 -> Conv 128 (3x3, ReLU, no padding).

    ``trunk_bias=False``: convolutions without biases, so a blank patch (all zeros) gives an all-zero feature
    vector ("nothing says nothing"); with biases it gives one constant, non-zero vector.

    ``downsample``: how the trunk halves its feature maps after ``conv2``. ``"avgpool"`` (the article's) pools
    2x2; ``"stride"`` gives ``conv2`` a stride of 2 instead (the same map sizes and parameters, no pooling layer;
    the article's 池化好不好 calls the two similar); ``"none"`` keeps the full resolution (about 6x more
    pixel capsules for the capsule model, the same parameter count for both models).
    """
    if downsample not in DOWNSAMPLES:
        raise ValueError(f"unknown downsample {downsample!r}; choose one of {', '.join(DOWNSAMPLES)}")
    if not isinstance(trunk_bias, bool):
        raise ValueError(f"trunk_bias must be True or False, got {trunk_bias!r}")
    x = layers.Conv2D(64, 3, activation="relu", use_bias=trunk_bias, name="conv1")(inputs)
    x = layers.Conv2D(64, 3, strides=2 if downsample == "stride" else 1, activation="relu", use_bias=trunk_bias,
                      name="conv2")(x)
    if downsample == "avgpool":
        x = layers.AveragePooling2D(2, name="pool")(x)
    x = layers.Conv2D(128, 3, activation="relu", use_bias=trunk_bias, name="conv3")(x)
    return layers.Conv2D(128, 3, activation="relu", use_bias=trunk_bias, name="conv4")(x)


def compile_for_article(model, learning_rate=1e-3):
    """Adam and the margin loss, as the article trains both models."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=margin_loss(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def cnn_baseline(compile=True, *, downsample="avgpool", trunk_bias=True):
    """Trunk -> GlobalAveragePooling2D -> Dense 128 ReLU -> Dense 10 sigmoid (276,810 parameters).

    ``downsample``, ``trunk_bias``: see :func:`conv_trunk`.
    """
    inputs = keras.Input((None, None, 1), name="image")
    x = conv_trunk(inputs, downsample=downsample, trunk_bias=trunk_bias)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="sigmoid", name="scores", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="cnn_baseline")
    return compile_for_article(model) if compile else model


def digit_capsules(inputs, *, downsample="avgpool", trunk_bias=True, **capsule_settings):
    """Trunk -> every pixel a 128-d capsule -> shared Capsule(10, 16): ``(batch, 10, 16)``.

    ``downsample``, ``trunk_bias``: see :func:`conv_trunk`. ``capsule_settings``: keyword arguments of
    :class:`capsule_lesson.Capsule` (``routing``, ``routings``, ``update``, ``squash``, ``inner_squash``,
    ``temperature``, ...); its defaults are the article's.
    """
    x = FeatureMapToCapsules(name="to_capsules")(conv_trunk(inputs, downsample=downsample, trunk_bias=trunk_bias))
    return Capsule(NUM_CLASSES, 16, share_weights=True, name="digit_capsules", **capsule_settings)(x)


def capsule_model(*, compile=True, downsample="avgpool", trunk_bias=True, **capsule_settings):
    """Trunk -> every pixel a 128-d capsule -> shared Capsule(10, 16) -> norms (279,488 parameters).

    ``downsample``, ``trunk_bias`` and ``capsule_settings``: as for :func:`digit_capsules`.
    """
    inputs = keras.Input((None, None, 1), name="image")
    x = digit_capsules(inputs, downsample=downsample, trunk_bias=trunk_bias, **capsule_settings)
    outputs = CapsuleLength(name="scores", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="capsule_model")
    return compile_for_article(model) if compile else model


def capsule_decoder_model(*, recon_weight=RECONSTRUCTION_WEIGHT, hidden=DECODER_HIDDEN, compile=True,
                          **capsule_settings):
    """``capsule_model()`` plus a decoder: inputs ``[image (28, 28, 1), one-hot label (10,)]``,
    outputs ``[scores (10,), reconstruction (28, 28, 1)]``; loss = margin + ``recon_weight`` x summed squared error.
    ``capsule_settings``: keyword arguments of :class:`capsule_lesson.Capsule`, as for ``capsule_model``.
    """
    if not recon_weight >= 0:
        raise ValueError(f"recon_weight must be a number >= 0, got {recon_weight!r}")
    image = keras.Input(IMAGE_SHAPE, name="image")
    label = keras.Input((NUM_CLASSES,), name="label")
    capsules = digit_capsules(image, **capsule_settings)
    scores = CapsuleLength(name="scores", dtype="float32")(capsules)
    masked = MaskCapsules(name="mask")([capsules, label])
    reconstruction = reconstruction_decoder(hidden=hidden)(masked)
    model = keras.Model([image, label], [scores, reconstruction], name="capsule_decoder_model")
    if not compile:
        return model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=[margin_loss(), ReconstructionLoss()],
                  loss_weights=[1.0, float(recon_weight)],
                  metrics=[[keras.metrics.CategoricalAccuracy(name="accuracy")], []])
    return model


def build_model(name, *, recon_weight=None, trunk_bias=True, **capsule_settings):
    """A compiled ``cnn_baseline()``, ``capsule_model(...)`` or ``capsule_decoder_model(...)``.

    ``trunk_bias``: see :func:`conv_trunk`. ``capsule_settings`` (capsule models only): keyword arguments
    of :class:`capsule_lesson.Capsule`.
    """
    if name == "cnn":
        return cnn_baseline(trunk_bias=trunk_bias)
    if name == "capsule":
        return capsule_model(trunk_bias=trunk_bias, **capsule_settings)
    if name == "capsule_decoder":
        weight = RECONSTRUCTION_WEIGHT if recon_weight is None else recon_weight
        return capsule_decoder_model(recon_weight=weight, trunk_bias=trunk_bias, **capsule_settings)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
