"""The trunk's ``downsample`` option: the article's average pooling (the default, unchanged), a stride-2 ``conv2``
instead, or no downsampling; the same parameters every way, and the map sizes the article's 池化好不好 compares."""

import keras
import numpy as np
import pytest

from capsule_lesson import Capsule, capsule_model, cnn_baseline
from capsule_lesson.models import DOWNSAMPLES, conv_trunk


def trunk_shape(downsample, image):
    inputs = keras.Input((*image, 1))
    return tuple(conv_trunk(inputs, downsample=downsample).shape[1:])


@pytest.mark.parametrize("downsample", DOWNSAMPLES)
def test_every_downsampling_keeps_the_parameter_counts(downsample):
    assert cnn_baseline(downsample=downsample).count_params() == 276_810
    assert capsule_model(downsample=downsample).count_params() == 279_488


def test_default_is_the_articles_average_pooling():
    default, explicit = capsule_model(), capsule_model(downsample="avgpool")
    assert [layer.name for layer in default.layers] == [layer.name for layer in explicit.layers]
    assert isinstance(default.get_layer("pool"), keras.layers.AveragePooling2D)
    assert default.get_layer("conv2").strides == (1, 1)
    assert isinstance(cnn_baseline().get_layer("pool"), keras.layers.AveragePooling2D)


def test_stride_replaces_the_pooling_layer_by_a_stride_two_conv2():
    model = cnn_baseline(downsample="stride")
    assert model.get_layer("conv2").strides == (2, 2)
    assert not any(isinstance(layer, keras.layers.AveragePooling2D) for layer in model.layers)
    none = capsule_model(downsample="none")
    assert none.get_layer("conv2").strides == (1, 1)
    assert not any(isinstance(layer, keras.layers.AveragePooling2D) for layer in none.layers)


@pytest.mark.parametrize("image", [(28, 28), (56, 28), (28, 56)])
def test_stride_gives_the_same_maps_as_pooling_none_keeps_more(image):
    assert trunk_shape("stride", image) == trunk_shape("avgpool", image)
    h, w = image
    assert trunk_shape("avgpool", image) == ((h - 4) // 2 - 4, (w - 4) // 2 - 4, 128)
    assert trunk_shape("none", image) == (h - 8, w - 8, 128)


def test_capsule_model_sees_six_times_more_pixel_capsules_without_downsampling():
    def input_capsules(downsample):
        model = capsule_model(downsample=downsample, compile=False)
        capsule = next(layer for layer in model.layers if isinstance(layer, Capsule))
        head = keras.Model(model.input, capsule.input)
        return head.predict(np.zeros((1, 28, 28, 1), "float32"), verbose=0).shape[1]

    assert input_capsules("avgpool") == input_capsules("stride") == 64
    assert input_capsules("none") == 400


def test_downsample_and_capsule_settings_go_together():
    model = capsule_model(downsample="stride", routings=2)
    capsule = next(layer for layer in model.layers if isinstance(layer, Capsule))
    assert capsule.routings == 2 and model.get_layer("conv2").strides == (2, 2)
    scores = model.predict(np.random.default_rng(0).random((2, 56, 28, 1)), verbose=0)
    assert scores.shape == (2, 10) and np.all((scores >= 0) & (scores <= 1))


def test_unknown_downsample_is_named():
    for factory in (cnn_baseline, capsule_model):
        with pytest.raises(ValueError, match="unknown downsample 'maxpool'"):
            factory(downsample="maxpool")
    with pytest.raises(TypeError):
        cnn_baseline(True, "stride")                 # keyword-only
