"""The Keras layers. CI runs this file under TensorFlow and again under JAX (KERAS_BACKEND=jax)."""

import itertools

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from capsule_lesson import (ROUTING_UPDATES, SQUASH_VARIANTS, Capsule, CapsuleLength, MarginLoss,
                            dynamic_routing, margin_loss)

pytestmark = pytest.mark.backend


def as_numpy(t):
    return keras.ops.convert_to_numpy(t)


def gradient(f, x):
    """d sum(f(x)) / dx on the active backend."""
    backend = keras.backend.backend()
    x = keras.ops.convert_to_tensor(x)
    if backend == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = keras.ops.sum(f(x))
        return tape.gradient(y, x).numpy()
    if backend == "jax":
        import jax
        return np.asarray(jax.grad(lambda t: keras.ops.sum(f(t)))(x))
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parametrize("share, update, squash",
                         [(s, u, q) for s, u in itertools.product((True, False), ROUTING_UPDATES)
                          for q in ("su", "hinton")] + [(True, "replace", q) for q in SQUASH_VARIANTS])
def test_layer_matches_numpy_reference(share, update, squash):
    keras.utils.set_random_seed(0)
    u = np.random.default_rng(0).normal(size=(3, 9, 5)).astype("float32")
    layer = Capsule(4, 6, routings=4, share_weights=share, squash=squash, update=update)
    v = as_numpy(layer(u))
    u_hat = as_numpy(layer.predictions(u))
    np.testing.assert_allclose(v, dynamic_routing(u_hat, 4, update, squash).v, atol=1e-5)


@pytest.mark.parametrize("inner", ["unit", "none", "tanh"])
def test_inner_squash_option_matches_reference(inner):
    keras.utils.set_random_seed(0)
    u = np.random.default_rng(5).normal(size=(2, 8, 5)).astype("float32")
    layer = Capsule(3, 4, routings=3, inner_squash=inner)
    v = as_numpy(layer(u))
    ref = dynamic_routing(as_numpy(layer.predictions(u)), 3, "replace", "su", inner_squash=inner)
    np.testing.assert_allclose(v, ref.v, atol=1e-5)
    assert not np.allclose(v, dynamic_routing(as_numpy(layer.predictions(u)), 3).v, atol=1e-4)


def test_predictions_read_off_the_math():
    u = np.random.default_rng(1).normal(size=(2, 3, 5)).astype("float32")
    shared = Capsule(4, 6)
    shared.build(u.shape)
    W = as_numpy(shared.kernel)
    np.testing.assert_allclose(as_numpy(shared.predictions(u))[1, 2, 3], W[3] @ u[1, 2], rtol=1e-5)
    full = Capsule(4, 6, share_weights=False)
    full.build(u.shape)
    W = as_numpy(full.kernel)
    np.testing.assert_allclose(as_numpy(full.predictions(u))[1, 2, 3], W[2, 3] @ u[1, 2], rtol=1e-5)


def test_single_kernel_weight_with_documented_shapes():
    shared = Capsule(10, 16)
    shared.build((None, None, 128))
    assert [w.name for w in shared.trainable_weights] == ["kernel"]
    assert tuple(shared.kernel.shape) == (10, 16, 128)
    full = Capsule(10, 16, share_weights=False)
    full.build((None, 36, 8))
    assert [w.name for w in full.trainable_weights] == ["kernel"]
    assert tuple(full.kernel.shape) == (36, 10, 16, 8)


def test_shared_layer_takes_any_number_of_input_capsules():
    layer = Capsule(3, 4)
    for n_in in (1, 7, 50):
        out = layer(np.ones((2, n_in, 5), "float32"))
        assert tuple(out.shape) == (2, 3, 4)


def test_fully_connected_layer_rejects_another_capsule_count():
    layer = Capsule(3, 4, share_weights=False)
    layer(np.ones((2, 7, 5), "float32"))
    with pytest.raises(ValueError, match="7"):
        layer(np.ones((2, 8, 5), "float32"))


def test_fully_connected_layer_needs_a_known_count():
    with pytest.raises(ValueError, match="fixed number of input capsules"):
        keras.Sequential([keras.Input((None, 5)), Capsule(3, 4, share_weights=False)])


@settings(max_examples=15)
@given(st.integers(0, 10_000))
def test_shared_layer_is_invariant_to_input_capsule_order(seed):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(2, 11, 5)).astype("float32")
    layer = Capsule(3, 4, routings=3)
    permuted = u[:, rng.permutation(11)]
    np.testing.assert_allclose(as_numpy(layer(u)), as_numpy(layer(permuted)), atol=1e-5)


@pytest.mark.parametrize("shape, message", [((2, 5), "rank 2"), ((2, 3, 4, 5), "rank 4")])
def test_wrong_rank_is_named(shape, message):
    with pytest.raises(ValueError, match=message):
        Capsule(3, 4)(np.ones(shape, "float32"))


def test_wrong_capsule_length_after_build():
    layer = Capsule(3, 4)
    layer(np.ones((1, 6, 5), "float32"))
    with pytest.raises(ValueError, match="axis -1 of input shape to have value 5"):
        layer(np.ones((1, 6, 7), "float32"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(squash="sqaush"), "unknown squash variant 'sqaush'"),
    (dict(update="add"), "unknown routing update 'add'"),
    (dict(routings=0), "routings must be an integer >= 1"),
    (dict(squash="tanh", squash_k=0.5), "has no constant k"),
    (dict(num_capsule=0), "num_capsule must be a positive integer"),
    (dict(inner_squash="unti"), "unknown inner_squash 'unti'"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = dict(num_capsule=3, dim_capsule=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Capsule(**args)


@pytest.mark.parametrize("share", [True, False])
def test_save_and_load_round_trip_without_custom_objects(tmp_path, share):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6, 5))
    v = Capsule(3, 4, routings=2, share_weights=share, squash="hinton", update="accumulate",
                squash_k=0.7)(inputs)
    model = keras.Model(inputs, CapsuleLength()(v))
    model.compile(optimizer="adam", loss=margin_loss(lam=0.5))
    u = np.random.default_rng(2).normal(size=(4, 6, 5)).astype("float32")
    path = tmp_path / "capsule.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(u, verbose=0), model.predict(u, verbose=0), atol=1e-6)
    layer = loaded.layers[1]
    assert isinstance(layer, Capsule)
    assert (layer.routings, layer.share_weights, layer.squash, layer.update, layer.squash_k) == \
        (2, share, "hinton", "accumulate", 0.7)
    assert isinstance(loaded.loss, MarginLoss) and loaded.loss.lam == 0.5


def test_gradients_finite_for_zero_input_and_huge_input():
    keras.utils.set_random_seed(3)
    layer = Capsule(3, 4, routings=5)
    for scale in (0.0, 1e4):
        u = np.random.default_rng(3).normal(size=(2, 6, 5)).astype("float32") * scale
        assert np.all(np.isfinite(as_numpy(layer(u))))
        assert np.all(np.isfinite(gradient(layer, u)))


def test_capsule_length_has_finite_gradient_at_zero():
    v = np.zeros((2, 3, 4), "float32")
    np.testing.assert_allclose(as_numpy(CapsuleLength()(v)), np.sqrt(1e-7), rtol=1e-3)
    assert np.all(np.isfinite(gradient(CapsuleLength(), v)))


def test_margin_loss_formula_and_label_forms():
    scores = np.array([[0.95, 0.3, 0.05], [0.5, 0.2, 0.7]], "float32")
    one_hot = np.array([[1, 0, 0], [0, 0, 1]], "float32")
    expected = np.mean([0 + 0.25 * 0.2**2 + 0,
                        0.25 * 0.4**2 + 0.25 * 0.1**2 + 0.2**2])
    loss = margin_loss()
    assert float(loss(one_hot, scores)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(np.array([0, 2]), scores)) == pytest.approx(expected, rel=1e-5)
    assert float(margin_loss(lam=0.5)(one_hot, scores)) > expected
    with pytest.raises(ValueError, match="m_minus < m_plus"):
        margin_loss(m_plus=0.1, m_minus=0.9)


def test_routing_trains_by_backprop():
    """The unrolled loop is differentiable: a few Adam steps lower the loss."""
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 64)
    u = rng.normal(size=(64, 5, 4)).astype("float32")
    u[np.arange(64), :, y] += 2.0
    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, CapsuleLength()(Capsule(3, 6)(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=margin_loss())
    history = model.fit(u, keras.utils.to_categorical(y, 3), epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
