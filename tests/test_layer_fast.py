"""The fast capsule layer: same numbers and gradients as the textbook formulation.

``Capsule`` with shared weights never forms the predictions û_{j|i} = W_j u_i; it routes with
``s_j = W_j (sum_i c_ij u_i)`` and ``<û_{j|i}, v_j> = <u_i, W_j^T v_j>``. These tests pin that
rewrite to the NumPy reference and to gradients of the straightforward û formulation, and check
the slower layers the benchmark compares against. CI runs this file under TensorFlow and JAX.
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from capsule_lesson import ROUTING_UPDATES, Capsule, dynamic_routing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # the benchmarks/ package
from benchmarks.baselines import (EinsumCapsule, PerSampleCapsule,  # noqa: E402
                                  VectorizedMapCapsule)

pytestmark = pytest.mark.backend
BACKEND = keras.backend.backend()


def as_numpy(t):
    return keras.ops.convert_to_numpy(t)


def built(cls, u_shape, weights=None, **kwargs):
    layer = cls(kwargs.pop("num_capsule", 4), kwargs.pop("dim_capsule", 6), **kwargs)
    layer.build(u_shape)
    if weights is not None:
        layer.set_weights(weights)
    return layer


def gradients(layer, u):
    """d loss / d (input, kernel) for loss = sum of output lengths, on the active backend."""
    def loss(v):
        return keras.ops.sum(keras.ops.sqrt(keras.ops.sum(keras.ops.square(v), axis=-1) + 1e-7))

    if BACKEND == "tensorflow":
        import tensorflow as tf
        x = tf.constant(u)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss(layer(x))
        gu, gk = tape.gradient(value, [x, layer.kernel])
        return gu.numpy(), gk.numpy()
    if BACKEND == "jax":
        import jax
        grad = jax.grad(lambda x, k: loss(layer.stateless_call([k], [], x)[0]), argnums=(0, 1))
        gu, gk = grad(jax.numpy.asarray(u), layer.kernel.value)
        return np.asarray(gu), np.asarray(gk)
    pytest.skip(f"no gradient helper for backend {BACKEND}")


@settings(max_examples=12)
@given(n_in=st.integers(1, 12), num_capsule=st.integers(1, 5), routings=st.integers(1, 5),
       update=st.sampled_from(ROUTING_UPDATES), seed=st.integers(0, 1000))
def test_shared_fast_path_matches_reference(n_in, num_capsule, routings, update, seed):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(2, n_in, 5)).astype("float32")
    keras.utils.set_random_seed(seed)
    layer = built(Capsule, u.shape, num_capsule=num_capsule, routings=routings, update=update)
    ref = dynamic_routing(as_numpy(layer.predictions(u)), routings, update, "su").v
    np.testing.assert_allclose(as_numpy(layer(u)), ref, atol=2e-5)


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("update, inner", [("replace", None), ("accumulate", None),
                                           ("replace", "unit"), ("accumulate", "none")])
def test_gradients_equal_the_straightforward_formulation(share, update, inner):
    """Backprop through the rewritten loop gives the gradients of the textbook einsum loop."""
    u = np.random.default_rng(7).normal(size=(3, 8, 5)).astype("float32")
    keras.utils.set_random_seed(7)
    kwargs = dict(routings=3, share_weights=share, update=update, inner_squash=inner)
    fast = built(Capsule, u.shape, **kwargs)
    plain = built(EinsumCapsule, u.shape, weights=fast.get_weights(), **kwargs)
    np.testing.assert_allclose(as_numpy(fast(u)), as_numpy(plain(u)), atol=1e-5)
    for got, want in zip(gradients(fast, u), gradients(plain, u)):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _intermediate_shapes(layer, u):
    """Shapes of every intermediate the backend builds for one forward pass."""
    if BACKEND == "tensorflow":
        import tensorflow as tf
        graph = tf.function(layer).get_concrete_function(tf.TensorSpec(u.shape, tf.float32)).graph
        return {tuple(t.shape.as_list()) for op in graph.get_operations() for t in op.outputs
                if t.shape.rank is not None}
    if BACKEND == "jax":
        import jax
        jaxpr = jax.make_jaxpr(lambda x, k: layer.stateless_call([k], [], x)[0])(
            jax.numpy.asarray(u), layer.kernel.value)
        return {tuple(v.aval.shape) for eqn in jaxpr.eqns for v in eqn.outvars}
    pytest.skip(f"no graph inspection for backend {BACKEND}")


def test_shared_layer_never_forms_the_predictions():
    u = np.ones((3, 7, 5), "float32")
    shared = built(Capsule, u.shape, num_capsule=4, dim_capsule=6, routings=3)
    u_hat_shape = (3, 7, 4, 6)
    assert u_hat_shape not in _intermediate_shapes(shared, u)
    # ... while the textbook layer does (so the check can fail)
    plain = built(EinsumCapsule, u.shape, num_capsule=4, dim_capsule=6, routings=3)
    assert u_hat_shape in _intermediate_shapes(plain, u)


@pytest.mark.parametrize("cls", [PerSampleCapsule, VectorizedMapCapsule, EinsumCapsule])
@pytest.mark.parametrize("share", [True, False])
def test_benchmark_baselines_compute_the_same_layer(cls, share):
    u = np.random.default_rng(3).normal(size=(4, 6, 5)).astype("float32")
    keras.utils.set_random_seed(3)
    fast = built(Capsule, u.shape, routings=3, share_weights=share, update="accumulate")
    slow = built(cls, u.shape, weights=fast.get_weights(), routings=3, share_weights=share,
                 update="accumulate")
    np.testing.assert_allclose(as_numpy(slow(u)), as_numpy(fast(u)), atol=1e-5)
