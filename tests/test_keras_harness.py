"""Keras's own layer harness on every layer and loss the package registers (TensorFlow, and JAX in CI).

``keras.src.testing.TestCase.run_layer_test`` builds each layer from its config, checks the config round trip,
symbolic and eager calls, output shapes, a training step and the dtypes under a mixed-precision policy. We add what
it does not check: values and gradients stay finite under ``mixed_bfloat16`` and ``mixed_float16`` on the inputs
that break naive code (all-zero capsules, huge values). The losses, which are not layers, get Keras's
``run_class_serialization_test`` and finite values in every precision. (``.keras`` files from other versions of the
layer: ``tests/test_bad_input.py``.)
"""

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase as KerasTestCase

from capsule_lesson import Capsule, CapsuleLength, FeatureMapToCapsules, MarginLoss, MaskCapsules, ReconstructionLoss
from capsule_lesson.layers import PACKAGE

pytestmark = pytest.mark.backend


class Harness(KerasTestCase):
    def runTest(self):  # unittest needs a test method to instantiate the case; pytest drives it instead
        pass


@pytest.fixture
def harness():
    case = Harness()
    case.setUp()
    yield case
    keras.config.set_dtype_policy("float32")


CAPSULE_SETTINGS = [
    dict(num_capsule=4, dim_capsule=8, routings=3, share_weights=True),
    dict(num_capsule=4, dim_capsule=8, routings=3, share_weights=False),
    dict(num_capsule=3, dim_capsule=5, routings=4, share_weights=True, update="accumulate", squash="hinton"),
    dict(num_capsule=3, dim_capsule=5, routings=2, share_weights=False, inner_squash="unit", squash="tanh"),
    dict(num_capsule=2, dim_capsule=6, routings=1, squash="su", squash_k=2.0),
    dict(num_capsule=2, dim_capsule=6, routings=3, squash="rational", update="accumulate", inner_squash="none"),
    dict(num_capsule=4, dim_capsule=8, routings=3, routing="kmeans", temperature=0.5),
    dict(num_capsule=3, dim_capsule=5, routings=3, share_weights=False, routing="em"),
    dict(num_capsule=3, dim_capsule=5, routings=3, routing="em"),
    dict(num_capsule=2, dim_capsule=6, routings=1, routing="uniform"),
    dict(num_capsule=4, dim_capsule=8, routings=3, aggregate="mean", leaky=True),
    dict(num_capsule=3, dim_capsule=5, routings=3, share_weights=False, routing="kmeans", aggregate="mean"),
    dict(num_capsule=3, dim_capsule=5, routings=3, routing="em", aggregate="mean"),
]


@pytest.mark.parametrize("settings", CAPSULE_SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_capsule_passes_the_keras_layer_harness(harness, settings):
    harness.run_layer_test(
        Capsule, init_kwargs=settings, input_shape=(2, 7, 6),
        expected_output_shape=(2, settings["num_capsule"], settings["dim_capsule"]),
        expected_num_trainable_weights=1, expected_num_non_trainable_weights=0,
        expected_num_losses=0, supports_masking=False)


def test_capsule_length_passes_the_keras_layer_harness(harness):
    harness.run_layer_test(CapsuleLength, init_kwargs={}, input_shape=(3, 10, 16), expected_output_shape=(3, 10),
                           expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
                           supports_masking=False)


def test_feature_map_to_capsules_passes_the_keras_layer_harness(harness):
    harness.run_layer_test(FeatureMapToCapsules, init_kwargs={}, input_shape=(2, 4, 5, 8),
                           expected_output_shape=(2, 20, 8), expected_num_trainable_weights=0,
                           supports_masking=False)


def test_mask_capsules_passes_the_keras_layer_harness(harness):
    harness.run_layer_test(MaskCapsules, init_kwargs={}, input_shape=(2, 10, 16), expected_output_shape=(2, 160),
                           expected_num_trainable_weights=0, supports_masking=False)
    keep = np.eye(10, dtype="float32")[[3, 7]]
    harness.run_layer_test(MaskCapsules, init_kwargs={},
                           input_data=[np.random.default_rng(0).normal(size=(2, 10, 16)).astype("float32"), keep],
                           expected_output_shape=(2, 160), expected_num_trainable_weights=0,
                           supports_masking=False, run_training_check=False)


@pytest.mark.parametrize("loss", [MarginLoss(), MarginLoss(m_plus=0.8, m_minus=0.2, lam=0.5), ReconstructionLoss()],
                         ids=["margin-default", "margin-custom", "reconstruction"])
def test_losses_serialize_and_give_finite_values_in_every_precision(harness, loss):
    harness.run_class_serialization_test(loss)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == loss.get_config()
    rng = np.random.default_rng(0)
    y_true = np.eye(10, dtype="float32")[rng.integers(0, 10, 8)]
    for y_pred in (rng.uniform(0, 1, (8, 10)), np.zeros((8, 10)), np.ones((8, 10))):
        for dtype in ("float32", "bfloat16", "float16"):
            value = keras.ops.convert_to_numpy(loss(keras.ops.cast(y_true, dtype), keras.ops.cast(y_pred, dtype)))
            assert np.isfinite(value).all() and value >= 0, (dtype, value)


def finite_values_and_gradients(layer, x):
    """The layer's output and d sum(output) / d (input, weights) on the active backend, as NumPy."""
    x = keras.ops.convert_to_tensor(x)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            total = keras.ops.sum(keras.ops.cast(y, "float32"))
        grads = tape.gradient(total, [x] + layer.trainable_variables)
        return keras.ops.convert_to_numpy(y), [keras.ops.convert_to_numpy(g) for g in grads]
    if backend == "jax":
        import jax
        y = layer(x)
        values = [v.value for v in layer.trainable_variables]

        def total(x, values):
            out, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], x)
            return keras.ops.sum(keras.ops.cast(out, "float32"))

        gx, gw = jax.grad(total, argnums=(0, 1))(x, values)
        return keras.ops.convert_to_numpy(y), [np.asarray(gx)] + [np.asarray(g) for g in gw]
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("case", ["random", "all-zero capsules", "huge values", "one zero capsule"])
@pytest.mark.parametrize("routing", ["dynamic", "kmeans", "em", "uniform", "dynamic-mean-leaky", "em-mean"])
def test_capsule_stays_finite_in_reduced_precision(policy, share, case, routing):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(3, 12, 8)).astype("float32")
    if case == "all-zero capsules":
        x[:] = 0
    elif case == "huge values":
        x *= 1e3
    elif case == "one zero capsule":
        x[:, 0] = 0
    routing, *options = routing.split("-")
    options = {"aggregate": "mean" if "mean" in options else "sum", "leaky": "leaky" in options}
    layer = Capsule(10, 16, routings=3, share_weights=share, dtype=policy, routing=routing, **options)
    y, grads = finite_values_and_gradients(layer, x)
    assert y.shape == (3, 10, 16)
    assert np.isfinite(y.astype("float32")).all(), (policy, case)
    lengths = np.linalg.norm(y.astype("float32"), axis=-1)
    assert (lengths <= 1.0 + 1e-2).all(), lengths.max()      # a squashed vector is never longer than 1
    for g in grads:
        assert np.isfinite(np.asarray(g, dtype="float32")).all(), (policy, case)


@pytest.mark.parametrize("share", [True, False])
def test_bfloat16_output_is_close_to_float32(share):
    """Mixed bfloat16 changes the scores by far less than the margin loss's 0.1 steps (what accuracy turns on)."""
    x = np.random.default_rng(2).normal(size=(4, 20, 8)).astype("float32")
    outputs = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        layer = Capsule(10, 16, share_weights=share, dtype=policy)
        lengths = CapsuleLength()(keras.ops.cast(layer(x), "float32"))
        outputs[policy] = keras.ops.convert_to_numpy(lengths)
    assert np.abs(outputs["float32"] - outputs["mixed_bfloat16"]).max() < 0.02


def test_every_registered_class_is_covered():
    registered = {name.split(">", 1)[1] for name in keras.saving.get_custom_objects() if name.startswith(PACKAGE + ">")}
    covered = {"Capsule", "CapsuleLength", "FeatureMapToCapsules", "MaskCapsules", "MarginLoss", "ReconstructionLoss"}
    assert registered == covered, registered ^ covered
