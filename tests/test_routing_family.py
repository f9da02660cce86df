"""The routing family: dynamic routing beside soft k-means, Gaussian-mixture EM and uniform couplings.

NumPy references checked against their defining properties and against loop-by-loop implementations
written here; the Keras layer checked against the references (``backend``: also under JAX).
"""

import math

import keras
import numpy as np
import pytest

import capsule_lesson as cl
from capsule_lesson import ROUTINGS, dynamic_routing, em_routing, kmeans_routing, route, uniform_routing

pytestmark = pytest.mark.backend


def separable_predictions(seed, n_in=30, n_out=3, dim=6, noise=0.15, scale=2.0):
    """û_{j|i}: lower capsule i agrees closely with one upper capsule (its owner); its other predictions scatter."""
    rng = np.random.default_rng(seed)
    centres = scale * rng.normal(size=(n_out, dim))
    u_hat = rng.normal(size=(n_in, n_out, dim))
    owner = np.arange(n_in) % n_out
    u_hat[np.arange(n_in), owner] = centres[owner] + noise * rng.normal(size=(n_in, dim))
    return u_hat, owner


# ---------------------------------------------------------------- properties of the NumPy references

@pytest.mark.parametrize("routing", ROUTINGS)
def test_couplings_are_distributions_over_outputs(routing):
    u_hat = np.random.default_rng(0).normal(size=(4, 9, 5, 3)) * 3
    result = route(u_hat, routing, routings=5)
    assert np.all(result.c_history >= 0)
    np.testing.assert_allclose(result.c_history.sum(axis=-1), 1.0, atol=1e-12)
    assert result.v.shape == (4, 5, 3) and np.all(np.linalg.norm(result.v, axis=-1) < 1)
    single = route(u_hat[1], routing, routings=5)
    np.testing.assert_allclose(single.v, result.v[1], atol=1e-12)


@pytest.mark.parametrize("routing", ["dynamic", "kmeans", "em"])
def test_each_routing_finds_the_owners_on_a_separable_toy(routing):
    u_hat, owner = separable_predictions(1)
    result = route(u_hat, routing, routings=10)
    c_last, c_before = result.c_history[-1], result.c_history[-2]
    assert np.all(c_last.argmax(axis=1) == owner)                      # each input goes to its cluster
    assert c_last[np.arange(len(owner)), owner].mean() > 0.6           # and decisively (1/3 at the start)
    np.testing.assert_allclose(c_last, c_before, atol=2e-2)            # the iteration has settled


def test_uniform_routing_is_one_pass_of_even_couplings():
    u_hat, _ = separable_predictions(2)
    result = uniform_routing(u_hat)
    np.testing.assert_allclose(result.c_history, 1 / 3)
    np.testing.assert_allclose(result.v, cl.squash(u_hat.sum(axis=0) / 3, "su"))
    np.testing.assert_allclose(result.v, dynamic_routing(u_hat, routings=1).v)   # routing with no update


def test_em_objective_never_decreases():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        u_hat = rng.normal(size=(3, 12, 4, 5)) * rng.uniform(0.2, 3)
        objective = em_routing(u_hat, routings=25).log_likelihood        # (24, batch)
        assert objective.shape == (24, 3)
        assert np.all(np.diff(objective, axis=0) >= -1e-9 * np.abs(objective[1:])), seed


def test_em_with_a_tight_cluster_stays_finite():
    u_hat = np.random.default_rng(9).normal(size=(6, 2, 3))   # output 1: scattered predictions
    u_hat[:, 0] = 1.0                         # every prediction for output 0 identical: zero variance
    result = em_routing(u_hat, routings=6)
    assert np.all(np.isfinite(result.v)) and np.all(np.isfinite(result.log_likelihood))
    assert np.all(result.c_history[-1][:, 0] > 0.99)


def test_kmeans_with_one_output_is_the_weighted_mean_direction():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(7, 1, 4))
    result = kmeans_routing(points, routings=4)
    np.testing.assert_allclose(result.c_history, 1.0)                 # one cluster holds everything
    mean = points[:, 0].mean(axis=0)
    np.testing.assert_allclose(result.v[0] / np.linalg.norm(result.v[0]), mean / np.linalg.norm(mean))
    weights = np.array([3, 1, 1, 2, 1, 1, 1])                          # integer weights = repeated points
    repeated = kmeans_routing(np.repeat(points, weights, axis=0), routings=4).v[0]
    weighted_mean = (weights[:, None] * points[:, 0]).sum(axis=0)
    np.testing.assert_allclose(repeated / np.linalg.norm(repeated), weighted_mean / np.linalg.norm(weighted_mean))


def test_kmeans_at_temperature_one_is_the_authors_later_loop():
    u_hat = np.random.default_rng(4).normal(size=(2, 11, 4, 6))
    np.testing.assert_allclose(kmeans_routing(u_hat, routings=4).v,
                               dynamic_routing(u_hat, routings=4, inner_squash="unit").v, atol=1e-12)


def test_kmeans_temperature_sets_how_hard_the_assignments_are():
    u_hat, _ = separable_predictions(5)
    entropy = [cl.coupling_entropy(kmeans_routing(u_hat, 6, temperature=t).c_history[-1]) for t in (0.1, 1, 10)]
    assert entropy[0] < entropy[1] < entropy[2] <= math.log(3) + 1e-12


# ------------------------------------------------- against independent, loop-by-loop implementations

def softmax_row(x):
    e = [math.exp(v - max(x)) for v in x]
    return [v / sum(e) for v in e]


def norm(x):
    return math.sqrt(sum(v * v for v in x))


def su_squash(x):
    n2 = sum(v * v for v in x)
    return [v * n2 / (0.5 + n2) / math.sqrt(n2 + 1e-7) for v in x]


def loop_kmeans(u, routings, temperature):
    n_in, n_out, dim = u.shape
    c = [[1 / n_out] * n_out for _ in range(n_in)]
    for r in range(routings):
        s = [[sum(c[i][j] * u[i, j, d] for i in range(n_in)) for d in range(dim)] for j in range(n_out)]
        if r < routings - 1:
            unit = [[v / math.sqrt(sum(w * w for w in s[j]) + 1e-7) for v in s[j]] for j in range(n_out)]
            c = [softmax_row([sum(u[i, j, d] * unit[j][d] for d in range(dim)) / temperature
                              for j in range(n_out)]) for i in range(n_in)]
    return np.array([su_squash(s[j]) for j in range(n_out)])


def loop_em(u, routings, prior):
    n_in, n_out, dim = u.shape
    c = [[1 / n_out] * n_out for _ in range(n_in)]
    for r in range(routings):
        s = [[sum(c[i][j] * u[i, j, d] for i in range(n_in)) for d in range(dim)] for j in range(n_out)]
        if r == routings - 1:
            break
        logp = [[0.0] * n_out for _ in range(n_in)]
        for j in range(n_out):
            mass = sum(c[i][j] for i in range(n_in))
            mu = [s[j][d] / mass for d in range(dim)]
            var = [(sum(c[i][j] * (u[i, j, d] - mu[d]) ** 2 for i in range(n_in)) + prior) / (mass + 1)
                   for d in range(dim)]
            for i in range(n_in):
                logp[i][j] = math.log(mass / n_in) + sum(
                    -0.5 * math.log(2 * math.pi * var[d]) - (u[i, j, d] - mu[d]) ** 2 / (2 * var[d])
                    for d in range(dim))
        c = [softmax_row(row) for row in logp]
    return np.array([su_squash(s[j]) for j in range(n_out)])


def test_references_match_loop_implementations():
    u = np.random.default_rng(6).normal(size=(8, 3, 4))
    np.testing.assert_allclose(kmeans_routing(u, 4, temperature=0.7).v, loop_kmeans(u, 4, 0.7), atol=1e-10)
    np.testing.assert_allclose(em_routing(u, 4, variance_prior=0.05).v, loop_em(u, 4, 0.05), atol=1e-10)


# ---------------------------------------------------------------------------- the Keras layer

LAYER_CASES = [("dynamic", {}), ("kmeans", {"temperature": 1.0}), ("kmeans", {"temperature": 0.3}),
               ("em", {}), ("uniform", {})]


@pytest.mark.parametrize("share_weights", [True, False], ids=["shared", "fully-connected"])
@pytest.mark.parametrize("routing, options", LAYER_CASES, ids=[f"{r}-{o}" for r, o in LAYER_CASES])
def test_layer_matches_the_numpy_reference(routing, options, share_weights):
    rng = np.random.default_rng(7)
    u = (rng.normal(size=(3, 10, 6)) * 1.5).astype("float32")
    layer = cl.Capsule(4, 5, routings=3, share_weights=share_weights, routing=routing, **options)
    v = keras.ops.convert_to_numpy(layer(u))
    u_hat = keras.ops.convert_to_numpy(layer.predictions(u)).astype("float64")
    np.testing.assert_allclose(v, route(u_hat, routing, routings=3, **options).v, atol=2e-5)


@pytest.mark.parametrize("routing", ROUTINGS)
def test_layer_config_round_trip_and_gradients(routing, tmp_path):
    options = {"temperature": 0.5} if routing == "kmeans" else {}
    layer = cl.Capsule(3, 4, routings=2, routing=routing, **options)
    u = np.random.default_rng(8).normal(size=(2, 6, 5)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(u))
    clone = cl.Capsule.from_config(layer.get_config())
    assert (clone.routing, clone.temperature) == (routing, options.get("temperature", 1.0))
    inputs = keras.Input((6, 5))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(u)), expected, atol=1e-6)
    grads = _input_gradient(loaded, u)
    assert np.all(np.isfinite(grads)) and np.abs(grads).max() > 0


def _input_gradient(model, u):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        x = tf.constant(u)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(model(x))
        return tape.gradient(y, x).numpy()
    import jax
    return np.asarray(jax.grad(lambda x: model(x).sum())(u))


def test_em_layer_stays_finite_in_bfloat16_and_on_zero_input():
    for u in (np.zeros((2, 6, 5), "float32"), np.full((2, 6, 5), 300.0, "float32")):
        layer = cl.Capsule(3, 4, routing="em", dtype="mixed_bfloat16")
        v = keras.ops.convert_to_numpy(keras.ops.cast(layer(u), "float32"))
        assert np.all(np.isfinite(v))


@pytest.mark.parametrize("kwargs, message", [
    ({"routing": "spectral"}, "unknown routing 'spectral'"),
    ({"routing": "kmeans", "update": "accumulate"}, "settings of dynamic routing"),
    ({"routing": "em", "inner_squash": "unit"}, "settings of dynamic routing"),
    ({"routing": "dynamic", "temperature": 0.5}, "temperature is a setting of kmeans"),
    ({"routing": "kmeans", "temperature": 0.0}, "temperature must be a finite number > 0"),
    ({"routing": "kmeans", "temperature": float("nan")}, "temperature must be a finite number > 0"),
])
def test_layer_rejects_settings_that_do_not_fit(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cl.Capsule(3, 4, **kwargs)


def test_route_rejects_options_of_another_routing():
    u_hat = np.zeros((3, 2, 2))
    with pytest.raises(ValueError, match="kmeans routing takes no option update"):
        route(u_hat, "kmeans", update="accumulate")
    with pytest.raises(ValueError, match="unknown routing"):
        route(u_hat, "spectral")
    with pytest.raises(ValueError, match="variance_prior must be"):
        em_routing(u_hat, variance_prior=0)
