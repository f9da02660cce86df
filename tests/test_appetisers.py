import numpy as np
import pytest

from capsule_lesson import (aggregation_weights, fixed_point_inverse, inverse_by_bisection,
                            softmax_aggregate)


def test_fixed_point_trajectory_shape_and_first_steps():
    x = np.array([[0.5, 1.0, 2.0]])
    traj = fixed_point_inverse(x, 3)
    assert traj.shape == (4, 1, 3)
    np.testing.assert_array_equal(traj[0], x)
    np.testing.assert_allclose(traj[3], x - np.cos(x - np.cos(x - np.cos(x))))


def test_fixed_point_converges_to_the_inverse_where_sin_is_small():
    x = np.array([-0.5, 0.0, 0.5, 1.0, 2.0, 3.0])
    y = fixed_point_inverse(x, 200)[-1]
    assert np.all(np.abs(np.sin(y)) < 0.9)       # the map's derivative at the fixed point
    np.testing.assert_allclose(y + np.cos(y), x, atol=1e-8)
    np.testing.assert_allclose(y, inverse_by_bisection(x), atol=1e-8)


def test_fixed_point_is_slow_where_sin_is_near_minus_one():
    x = -1.4                                       # y* near -pi/2: derivative sin(y*) ~ -0.996
    error = abs(fixed_point_inverse(x, 200)[-1] - inverse_by_bisection(x))
    assert 1e-3 < error < 0.5


def test_scalar_input_and_bad_iterations():
    assert fixed_point_inverse(1.0, 0).shape == (1,)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="iterations"):
            fixed_point_inverse(1.0, bad)


def test_bisection_solves_equation():
    x = np.array([-10.0, 0.0, 1.0, 7.5])
    y = inverse_by_bisection(x)
    np.testing.assert_allclose(y + np.cos(y), x, atol=1e-10)


def test_softmax_aggregate_starts_at_mean_and_is_a_fixed_point_equation():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal([2, 0], 0.2, (30, 2)), rng.normal([0, 1], 0.2, (30, 2))])
    traj = softmax_aggregate(points, 50, scale=1.0)
    assert traj.shape == (51, 2)
    np.testing.assert_allclose(traj[0], points.mean(0))
    x = traj[-1]
    np.testing.assert_allclose(aggregation_weights(x, points) @ points, x, atol=1e-6)


def test_scale_zero_is_mean_pooling_and_large_scale_picks_the_longest_cluster():
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal([3, 0], 0.1, (10, 2)), rng.normal([0, 1], 0.1, (40, 2))])
    np.testing.assert_allclose(softmax_aggregate(points, 5, scale=0.0)[-1], points.mean(0))
    far = softmax_aggregate(points, 30, scale=10.0)[-1]
    assert np.linalg.norm(far - np.array([3, 0])) < 0.3


def test_aggregation_weights_finite_for_huge_scale():
    points = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    w = aggregation_weights(np.array([1.0, 0.0]), points, scale=1e6)
    assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-12


def test_points_shape_is_checked():
    with pytest.raises(ValueError, match=r"points must have shape \(n, d\)"):
        softmax_aggregate(np.zeros(3), 2)
