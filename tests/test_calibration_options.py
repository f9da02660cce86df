"""The options that issue "does the capsule know what it sees?" tests: s_j as the coupling-weighted mean
(``aggregate="mean"``), an orphan output in the couplings' softmax (``leaky``), and a trunk without biases.

Each is checked by the property it is for, in the NumPy reference and in the layer (``backend``: also JAX).
"""

import keras
import numpy as np
import pytest

import capsule_lesson as cl
from capsule_lesson import route
from capsule_lesson.models import capsule_model, cnn_baseline
from capsule_lesson.routing import couplings, em_routing, weighted_sum

pytestmark = pytest.mark.backend


def predictions(seed=0, n_in=12, n_out=4, dim=5, batch=2):
    return np.random.default_rng(seed).normal(size=(batch, n_in, n_out, dim))


# ------------------------------------------------------------------- the NumPy reference

@pytest.mark.parametrize("routing", ["dynamic", "kmeans", "uniform"])
def test_the_mean_does_not_grow_with_the_number_of_input_capsules(routing):
    """Every input capsule twice: the coupling-weighted mean gives the same v, the article's sum a longer one.
    (Not exactly so for EM: its variance prior is one pseudo-observation, however many capsules there are.)"""
    u_hat = predictions(n_in=40)
    twice = np.concatenate([u_hat, u_hat], axis=1)
    routings = 1 if routing == "uniform" else 3
    once = route(u_hat, routing, routings=routings, aggregate="mean")
    assert once.c_history.sum(axis=-2).min() >= 1.0      # every output holds at least one capsule's worth
    mean, mean_twice = once.v, route(twice, routing, routings=routings, aggregate="mean").v
    np.testing.assert_allclose(mean_twice, mean, atol=1e-10)
    summed, summed_twice = (route(u, routing, routings=routings).v for u in (u_hat, twice))
    assert np.all(np.linalg.norm(summed_twice, axis=-1) > np.linalg.norm(summed, axis=-1))


def test_weighted_sum_mean_is_a_convex_combination_and_never_divides_by_less_than_one():
    """The mean of identical predictions is that prediction, whatever the couplings; below one capsule's worth
    of coupling the output keeps the plain sum."""
    u_hat = np.broadcast_to(np.arange(1.0, 4.0), (1, 5, 1, 3))
    c = np.random.default_rng(1).uniform(0.3, 1.0, size=(1, 5, 1))
    np.testing.assert_allclose(weighted_sum(c, u_hat, "mean")[0, 0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(weighted_sum(c, u_hat, "sum")[0, 0], c.sum() * np.arange(1.0, 4.0))
    small = c / c.sum() / 2                                       # half a capsule's worth in all
    np.testing.assert_allclose(weighted_sum(small, u_hat, "mean"), weighted_sum(small, u_hat, "sum"))


def test_leaky_couplings_leave_a_share_for_the_orphan():
    b = np.array([[[2.0, 0.0, -1.0], [-30.0, -30.0, -30.0]]])
    c = couplings(b, leaky=True)
    expected = np.exp(b[0, 0]) / (np.exp(b[0, 0]).sum() + 1.0)
    np.testing.assert_allclose(c[0, 0], expected)
    assert c[0, 1].sum() < 1e-12          # agrees with no output: gives nothing to any of them
    np.testing.assert_allclose(couplings(b)[0].sum(axis=-1), 1.0)


def test_leaky_routing_gives_less_to_outputs_from_disagreeing_capsules():
    """Capsules 0 and 1 own outputs 0 and 1; capsule 2 points against both: leaky routing moves its share off."""
    u_hat = np.zeros((3, 2, 3))
    u_hat[0] = [[3.0, 0.0, 0.0], [0.0, 0.0, 0.1]]
    u_hat[1] = [[0.0, 0.0, 0.1], [0.0, 3.0, 0.0]]
    u_hat[2] = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
    plain = route(u_hat, "dynamic", routings=3).c_history[-1]
    leaky = route(u_hat, "dynamic", routings=3, leaky=True).c_history[-1]
    np.testing.assert_allclose(plain[2].sum(), 1.0)
    assert leaky[2].sum() < 0.5
    assert leaky[0, 0] > 0.5 and leaky[1, 1] > 0.5


def test_em_starts_where_it_is_told():
    u_hat = predictions(2)[0]
    start = np.full(u_hat.shape[:2], 0.0)
    start[np.arange(len(start)), np.arange(len(start)) % 4] = 1.0
    from_start = em_routing(u_hat, routings=2, initial_couplings=start)
    np.testing.assert_allclose(from_start.c_history[0], start)
    assert not np.allclose(from_start.v, em_routing(u_hat, routings=2).v)
    with pytest.raises(ValueError, match="initial_couplings must have shape"):
        em_routing(u_hat, initial_couplings=start[:3])
    with pytest.raises(ValueError, match="sum to 1"):
        em_routing(u_hat, initial_couplings=2 * start)


@pytest.mark.parametrize("kwargs, message", [
    ({"aggregate": "max"}, "unknown aggregate 'max'"),
    ({"leaky": "yes"}, "leaky must be True or False"),
    ({"leaky": True, "routing": "em"}, "leaky .* is a setting of dynamic and kmeans"),
    ({"leaky": True, "routing": "uniform", "routings": 1}, "leaky .* is a setting of dynamic and kmeans"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cl.Capsule(3, 4, **kwargs)
    with pytest.raises(ValueError, match=f"{message}|routing takes no option leaky"):
        route(predictions()[0], kwargs.pop("routing", "dynamic"), **kwargs)


# ------------------------------------------------------------------------------ the layer

CASES = [("dynamic", "mean", False), ("dynamic", "sum", True), ("dynamic", "mean", True),
         ("kmeans", "mean", True), ("em", "mean", False), ("uniform", "mean", False)]


@pytest.mark.parametrize("share_weights", [True, False], ids=["shared", "fully-connected"])
@pytest.mark.parametrize("routing, aggregate, leaky", CASES, ids=[f"{r}-{a}-leaky{l}" for r, a, l in CASES])
def test_layer_matches_the_reference(routing, aggregate, leaky, share_weights):
    u = (np.random.default_rng(3).normal(size=(3, 10, 6)) * 1.5).astype("float32")
    routings = 1 if routing == "uniform" else 3
    layer = cl.Capsule(4, 5, routings=routings, share_weights=share_weights, routing=routing,
                       aggregate=aggregate, leaky=leaky)
    v = keras.ops.convert_to_numpy(layer(u))
    u_hat = keras.ops.convert_to_numpy(layer.predictions(u)).astype("float64")
    options = {"leaky": True} if leaky else {}
    np.testing.assert_allclose(v, route(u_hat, routing, routings=routings, aggregate=aggregate, **options).v,
                               atol=2e-5)


def test_layer_mean_is_the_same_on_a_tiled_input_and_round_trips(tmp_path):
    u = np.random.default_rng(4).normal(size=(2, 7, 6)).astype("float32")
    layer = cl.Capsule(3, 4, aggregate="mean", leaky=True)
    once = keras.ops.convert_to_numpy(layer(u))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(np.concatenate([u, u, u], axis=1))), once,
                               atol=1e-5)
    clone = cl.Capsule.from_config(layer.get_config())
    assert (clone.aggregate, clone.leaky) == ("mean", True)
    inputs = keras.Input((None, 6))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.models.load_model(tmp_path / "m.keras")(u)), once,
                               atol=1e-6)


# ------------------------------------------------------------------------------ the trunk

def test_a_trunk_without_biases_says_nothing_about_a_blank_image():
    keras.utils.set_random_seed(0)
    blank = np.zeros((1, 28, 56, 1), "float32")
    for build in (lambda **kw: capsule_model(compile=False, **kw), lambda **kw: cnn_baseline(False, **kw)):
        with_bias, without = build(), build(trunk_bias=False)
        assert with_bias.count_params() - without.count_params() == 64 + 64 + 128 + 128
        for name in ("conv1", "conv2", "conv3", "conv4"):
            assert len(without.get_layer(name).weights) == 1     # the kernel only
    biased = capsule_model(compile=False)
    for layer in biased.layers:               # biases as after training: positive, so ReLU passes them
        if layer.name.startswith("conv"):
            layer.bias.assign(np.full(layer.bias.shape, 0.1, "float32"))
    trunk = keras.Model(biased.input, biased.get_layer("to_capsules").output)
    capsules = keras.ops.convert_to_numpy(trunk(blank))[0]
    assert np.abs(capsules - capsules[0]).max() < 1e-6 and np.linalg.norm(capsules[0]) > 0   # one constant vector
    plain = capsule_model(compile=False, trunk_bias=False)
    trunk = keras.Model(plain.input, plain.get_layer("to_capsules").output)
    assert np.all(keras.ops.convert_to_numpy(trunk(blank)) == 0)
    scores = keras.ops.convert_to_numpy(plain(blank))
    assert np.all(scores < 1e-3)            # zero capsules, zero predictions: every length ~ 0
    with pytest.raises(ValueError, match="trunk_bias must be True or False"):
        capsule_model(trunk_bias="no")
