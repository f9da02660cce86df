"""Tests for capsule_lesson.plots.fixed_point (notebook 01's figures and measurements)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from capsule_lesson import fixed_point_inverse, inverse_by_bisection
from capsule_lesson import appetisers
from capsule_lesson.plots import fixed_point as fp


def _render(fig):
    fig.canvas.draw()  # catches layout errors that only show when the figure is drawn
    return fig


def test_plot_fixed_point_data_follow_the_sliders():
    errors = {}
    for x, iterations in [(0.5, 5), (0.5, 12), (-2.0, 12), (3.0, 0)]:
        fig = _render(fp.plot_fixed_point(x=x, iterations=iterations))
        measured = fig.axes[1].lines[0].get_ydata()
        assert len(measured) == iterations + 1
        assert np.all(np.isfinite(measured)) and np.all(measured > 0)
        expected = np.abs(fixed_point_inverse(x, iterations) - inverse_by_bisection(x))
        np.testing.assert_allclose(measured, np.maximum(expected, fp.ERROR_FLOOR))
        # the cobweb path starts at (y_0, y_0) = (x, x)
        web = fig.axes[0].lines[2]
        assert web.get_xdata()[0] == pytest.approx(x) and web.get_ydata()[0] == pytest.approx(x)
        errors[(x, iterations)] = measured
    # more steps at x = 0.5 reach a smaller error; a different x gives a different curve
    assert errors[(0.5, 12)][-1] < errors[(0.5, 5)][-1]
    assert not np.allclose(errors[(0.5, 12)], errors[(-2.0, 12)])


def test_plot_fixed_point_prediction_line_uses_sin_y_star():
    x = 3.0
    fig = fp.plot_fixed_point(x=x, iterations=6)
    measured, predicted = (line.get_ydata() for line in fig.axes[1].lines[:2])
    rate = abs(np.sin(inverse_by_bisection(x)))
    np.testing.assert_allclose(predicted[1:] / predicted[:-1], rate)
    assert predicted[0] == pytest.approx(measured[0])


def test_plot_trajectories_lines_and_limits():
    xs = (-2.0, 0.0, 2.0)
    fig_short = _render(fp.plot_trajectories(xs=xs, iterations=3))
    fig_long = fp.plot_trajectories(xs=xs, iterations=30)
    solid = [line for line in fig_long.axes[0].lines if line.get_linestyle() == "-"]
    assert len(solid) == len(xs)
    for k, x in enumerate(xs):
        y = solid[k].get_ydata()
        assert y[0] == pytest.approx(x)  # starts at y_0 = x
        assert np.all(np.isfinite(y))
    # x = 2 converges within 30 steps; x = -2 does not (|sin y*| ~ 0.98)
    truth = inverse_by_bisection(np.array(xs))
    assert abs(solid[2].get_ydata()[-1] - truth[2]) < 1e-6
    assert abs(solid[0].get_ydata()[-1] - truth[0]) > 1e-2
    assert len(fig_short.axes[0].lines[0].get_ydata()) == 4


def test_observed_contraction_matches_sin_y_star():
    for y_star in [0.5, 1.0, -0.8, 4.0]:
        x = y_star + np.cos(y_star)
        assert appetisers.observed_contraction(x) == pytest.approx(abs(np.sin(y_star)), abs=2e-3)
    # y* = 0: g'(y*) = 0, convergence faster than any fixed ratio
    assert appetisers.observed_contraction(1.0) < 0.01
    # y* = x - cos(y*) = x when cos(y*) = 0: at x = -pi/2 the start y_0 = x is exact, nothing to measure
    assert np.isnan(appetisers.observed_contraction(-np.pi / 2))


def test_steps_to_tolerance_slow_where_sin_is_near_one():
    fast = appetisers.steps_to_tolerance(2.0)           # |sin y*| ~ 0.15
    slow = appetisers.steps_to_tolerance(-2.0)          # |sin y*| ~ 0.98
    assert fast < 20
    assert slow == 501                          # capped
    assert np.all(appetisers.steps_to_tolerance(np.array([2.0, -2.0]), max_iterations=50) == [fast, 51])


def test_plot_speed_map_data():
    fig, (x, y_star, steps) = fp.plot_speed_map(x_min=-3.0, x_max=3.0, max_iterations=200, num=301)
    _render(fig)
    assert x.shape == y_star.shape == steps.shape == (301,)
    np.testing.assert_allclose(y_star + np.cos(y_star), x, atol=1e-9)
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), steps)
    near_minus_half_pi = np.abs(y_star + np.pi / 2) < 0.1
    assert np.all(steps[near_minus_half_pi] > 100)
    assert np.median(steps) < 100


def test_unrolled_derivative_matches_finite_differences_and_tends_to_implicit():
    x = np.array([0.5, 3.0, 2.0])
    h = 1e-6
    for steps in [1, 3, 7]:
        numeric = (fixed_point_inverse(x + h, steps)[-1] - fixed_point_inverse(x - h, steps)[-1]) / (2 * h)
        np.testing.assert_allclose(appetisers.unrolled_derivative(x, steps), numeric, rtol=1e-6)
    # one step: y_1 = x - cos x, so dy_1/dx = 1 + sin x
    np.testing.assert_allclose(appetisers.unrolled_derivative(x, 1), 1 + np.sin(x))
    np.testing.assert_allclose(appetisers.unrolled_derivative(x, 200), appetisers.implicit_derivative(x), rtol=1e-8)
    assert not np.allclose(appetisers.unrolled_derivative(x, 3), appetisers.implicit_derivative(x), rtol=1e-3)


def test_plot_unrolled_gradients_one_line_per_entry_plus_implicit():
    x = np.linspace(-3, 3, 101)
    derivs = {n: appetisers.unrolled_derivative(x, n) for n in (1, 5)}
    fig = _render(fp.plot_unrolled_gradients(x, derivs, appetisers.implicit_derivative(x)))
    lines = fig.axes[0].lines
    assert len(lines) == 3
    np.testing.assert_allclose(lines[0].get_ydata(), derivs[1])
    np.testing.assert_allclose(lines[2].get_ydata(), appetisers.implicit_derivative(x))
    assert not np.allclose(lines[0].get_ydata(), lines[1].get_ydata())
