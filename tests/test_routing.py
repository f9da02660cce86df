import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from capsule_lesson import ROUTING_UPDATES, coupling_entropy, dynamic_routing, squash


def clustered_predictions(seed, n_in=24, n_out=3, dim=6, noise=0.3):
    """û_{j|i}: each lower capsule agrees with one upper capsule's direction and scatters for the rest."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_out, dim))
    u_hat = rng.normal(size=(n_in, n_out, dim))            # disagreement: random predictions
    owner = rng.integers(0, n_out, n_in)
    u_hat[np.arange(n_in), owner] = centres[owner] + noise * rng.normal(size=(n_in, dim))
    return u_hat


def test_shapes_batched_and_unbatched():
    u_hat = np.random.default_rng(0).normal(size=(5, 7, 3, 4))
    r = dynamic_routing(u_hat, routings=4)
    assert r.v.shape == (5, 3, 4)
    assert r.b_history.shape == r.c_history.shape == (4, 5, 7, 3)
    assert r.v_history.shape == (4, 5, 3, 4)
    single = dynamic_routing(u_hat[2], routings=4)
    assert single.v.shape == (3, 4) and single.c_history.shape == (4, 7, 3)
    np.testing.assert_allclose(single.v, r.v[2])


def test_one_routing_is_uniform_coupling():
    u_hat = np.random.default_rng(1).normal(size=(6, 4, 5))
    r = dynamic_routing(u_hat, routings=1, squash="hinton")
    np.testing.assert_allclose(r.c_history[0], 0.25)
    np.testing.assert_allclose(r.v, squash(u_hat.mean(0) * 6 / 4, "hinton"))


def test_loop_written_out_by_hand():
    u_hat = np.random.default_rng(2).normal(size=(4, 2, 3))
    r = dynamic_routing(u_hat, routings=3, update="accumulate", squash="hinton")
    b = np.zeros((4, 2))
    for _ in range(3):
        c = np.exp(b) / np.exp(b).sum(1, keepdims=True)
        s = (c[..., None] * u_hat).sum(0)
        v = s * (np.sum(s**2, -1, keepdims=True) / (1 + np.sum(s**2, -1, keepdims=True))
                 / np.linalg.norm(s, axis=-1, keepdims=True))
        b = b + np.einsum("ijd,jd->ij", u_hat, v)
    np.testing.assert_allclose(r.v, v, rtol=1e-5)


@given(arrays(np.float64, (5, 4, 3), elements=st.floats(-30, 30)),
       st.sampled_from(ROUTING_UPDATES), st.integers(1, 6))
def test_couplings_are_distributions_over_upper_capsules(u_hat, update, routings):
    r = dynamic_routing(u_hat, routings=routings, update=update)
    np.testing.assert_allclose(r.c_history.sum(-1), 1.0, rtol=1e-9)
    assert np.all(r.c_history >= 0)
    assert np.all(np.linalg.norm(r.v, axis=-1) < 1)


@given(st.integers(0, 10_000))
def test_accumulate_couplings_approach_one_hot(seed):
    u_hat = clustered_predictions(seed)
    entropy = [coupling_entropy(dynamic_routing(u_hat, r, "accumulate").c_history[-1])
               for r in (3, 10, 40)]
    assert entropy[0] > entropy[1] > entropy[2]
    assert entropy[2] < 0.15 * np.log(3)          # uniform over 3 capsules is log 3


@given(st.integers(0, 10_000))
def test_replace_outputs_converge_and_couplings_stay_soft(seed):
    u_hat = clustered_predictions(seed)
    r = dynamic_routing(u_hat, 40, "replace")
    step = np.linalg.norm(np.diff(r.v_history, axis=0), axis=-1).max(axis=-1)
    assert step[-1] < 0.02 * step[0]
    # replace keeps the logits bounded by |<û, v>|, so couplings do not collapse to one-hot
    assert coupling_entropy(r.c_history[-1]) > coupling_entropy(
        dynamic_routing(u_hat, 40, "accumulate").c_history[-1])


def test_huge_predictions_stay_finite():
    u_hat = np.random.default_rng(3).normal(size=(6, 3, 4)) * 1e6
    for update in ROUTING_UPDATES:
        r = dynamic_routing(u_hat, 10, update)
        for a in (r.v, r.b_history, r.c_history):
            assert np.all(np.isfinite(a))


@pytest.mark.parametrize("kwargs, message", [
    (dict(u_hat=np.zeros((3, 4))), r"u_hat must have shape \(n_in, n_out, dim\) .* got rank 2"),
    (dict(u_hat=np.zeros((1, 2, 3, 4, 5))), "got rank 5"),
    (dict(u_hat=np.zeros((3, 2, 4)), update="add"), "unknown routing update 'add'"),
    (dict(u_hat=np.zeros((3, 2, 4)), squash="sqush"), "unknown squash variant 'sqush'"),
    (dict(u_hat=np.zeros((3, 2, 4)), routings=0), "routings must be an integer >= 1"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dynamic_routing(**kwargs)


def test_coupling_entropy_extremes():
    assert coupling_entropy(np.eye(3)) == pytest.approx(0.0, abs=1e-12)
    assert coupling_entropy(np.full((2, 4), 0.25)) == pytest.approx(np.log(4))
