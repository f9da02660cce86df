import keras
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from capsule_lesson import SQUASH_CONSTANTS, SQUASH_VARIANTS, squash

SQUASHING = [v for v in SQUASH_VARIANTS if v != "none"]


def exact_norm(variant, n, k=None):
    """g(||x||) written independently of the package's squash_scale."""
    if variant in SQUASH_CONSTANTS:
        k = SQUASH_CONSTANTS[variant] if k is None else k
        return n**2 / (k + n**2)
    return {"tanh": np.tanh(n), "exp": 1 - np.exp(-n), "rational": n / (1 + n), "none": n}[variant]


def test_variant_names():
    assert SQUASH_VARIANTS == ("hinton", "su", "tanh", "exp", "rational", "none")


@pytest.mark.parametrize("variant", SQUASH_VARIANTS)
def test_norm_follows_formula_and_direction_is_kept(variant):
    x = np.array([[3.0, 4.0], [0.3, -0.4], [-20.0, 0.0]])
    out = squash(x, variant)
    norms = np.linalg.norm(x, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), exact_norm(variant, norms), rtol=1e-5)
    cos = np.sum(out * x, -1) / (np.linalg.norm(out, axis=-1) * norms)
    np.testing.assert_allclose(cos, 1.0, rtol=1e-12)


def test_su_is_hinton_with_half_constant_and_k_sets_both():
    x = np.random.default_rng(0).normal(size=(5, 8))
    np.testing.assert_allclose(squash(x, "su"), squash(x, "hinton", k=0.5))
    np.testing.assert_allclose(squash(x, "su", k=1.0), squash(x, "hinton"))
    assert not np.allclose(squash(x, "su"), squash(x, "hinton"))


def test_axis_argument():
    x = np.random.default_rng(1).normal(size=(4, 3, 6))
    np.testing.assert_allclose(squash(x, "hinton", axis=1),
                               np.moveaxis(squash(np.moveaxis(x, 1, -1), "hinton"), -1, 1))


@given(arrays(np.float64, (6, 4), elements=st.floats(-50, 50)))
def test_norms_below_one_and_monotone_in_input_norm(x):
    for variant in SQUASHING:
        out_norm = np.linalg.norm(squash(x, variant), axis=-1)
        assert np.all(out_norm < 1.0)
        # scaling a vector up never makes its squashed norm smaller
        bigger = np.linalg.norm(squash(1.7 * x, variant), axis=-1)
        assert np.all(bigger >= out_norm - 1e-12)


@pytest.mark.backend
@pytest.mark.parametrize("variant", SQUASH_VARIANTS)
def test_zero_vector_maps_to_zero_with_finite_gradient(variant):
    zero = np.zeros((2, 3))
    np.testing.assert_array_equal(squash(zero, variant), zero)
    x = keras.Variable(np.zeros((2, 3), "float32"))
    grad = _gradient(lambda t: keras.ops.sum(squash(t, variant)), x)
    assert np.all(np.isfinite(grad))


def _gradient(f, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            y = f(x.value)
        return tape.gradient(y, x.value).numpy()
    if backend == "jax":
        import jax
        return np.asarray(jax.grad(f)(x.value))
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.backend
def test_keras_tensor_in_keras_tensor_out_matches_numpy():
    x = np.random.default_rng(2).normal(size=(3, 5)).astype("float32")
    for variant in SQUASH_VARIANTS:
        out = squash(keras.ops.convert_to_tensor(x), variant)
        assert not isinstance(out, np.ndarray)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), squash(x, variant), rtol=1e-5, atol=1e-7)


def test_numpy_in_numpy_out_and_integers_become_floats():
    out = squash([[3, 4]], "rational")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


@pytest.mark.parametrize("bad, message", [("hintn", "unknown squash variant 'hintn'"),
                                          (None, "unknown squash variant None")])
def test_unknown_variant_is_named(bad, message):
    with pytest.raises(ValueError, match=message):
        squash(np.ones(3), bad)


def test_k_only_for_variants_with_a_constant_and_positive():
    with pytest.raises(ValueError, match="has no constant k"):
        squash(np.ones(3), "tanh", k=0.5)
    with pytest.raises(ValueError, match="must be positive"):
        squash(np.ones(3), "hinton", k=0.0)


def test_huge_vectors_stay_finite():
    out = squash(np.full((2, 4), 1e15), "su")
    assert np.all(np.isfinite(out)) and np.all(np.linalg.norm(out, axis=-1) <= 1.0 + 1e-12)
