"""Tests for capsule_lesson.plots.clustering (notebook 02's figures and measurements)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from capsule_lesson import aggregation_weights, softmax_aggregate
from capsule_lesson import appetisers
from capsule_lesson.plots import clustering as cl


def _render(fig):
    fig.canvas.draw()  # catches layout errors that only show when the figure is drawn
    return fig


def test_make_cloud_shapes_and_determinism():
    points, labels, centres = appetisers.make_cloud(4, 0.3, seed=5, n_points=50)
    assert points.shape == (50, 2) and labels.shape == (50,) and centres.shape == (4, 2)
    assert np.all(np.bincount(labels, minlength=4) >= 2)
    again, _, _ = appetisers.make_cloud(4, 0.3, seed=5, n_points=50)
    np.testing.assert_array_equal(points, again)
    other, _, _ = appetisers.make_cloud(4, 0.3, seed=6, n_points=50)
    assert not np.allclose(points, other)
    # spread only scales the noise around the same centres
    tight, _, same_centres = appetisers.make_cloud(4, 0.01, seed=5, n_points=50)
    np.testing.assert_array_equal(centres, same_centres)
    assert np.abs(tight - centres[labels]).max() < 0.1
    with pytest.raises(ValueError):
        appetisers.make_cloud(5, 0.3, seed=0, n_points=8)


def test_plot_aggregation_path_follows_every_slider():
    base = dict(n_clusters=3, spread=0.4, seed=0, iterations=8, scale=1.0)
    settings = [base, {**base, "iterations": 3}, {**base, "scale": 0.05}, {**base, "seed": 3},
                {**base, "n_clusters": 5}, {**base, "spread": 1.2}]
    paths = []
    for kw in settings:
        fig = _render(cl.plot_aggregation(**kw))
        line = fig.axes[0].lines[0]
        path = np.column_stack([line.get_xdata(), line.get_ydata()])
        assert path.shape == (kw["iterations"] + 1, 2)
        assert np.all(np.isfinite(path))
        points, _, _ = appetisers.make_cloud(kw["n_clusters"], kw["spread"], kw["seed"])
        np.testing.assert_allclose(path, softmax_aggregate(points, kw["iterations"], kw["scale"]))
        np.testing.assert_allclose(path[0], points.mean(axis=0))
        # markers: mean (step 0), one step (step 1), last step
        np.testing.assert_allclose(fig.axes[0].lines[1].get_xydata()[0], path[0])
        np.testing.assert_allclose(fig.axes[0].lines[2].get_xydata()[0], path[1])
        np.testing.assert_allclose(fig.axes[0].lines[3].get_xydata()[0], path[-1])
        paths.append(path)
    for other in paths[1:]:
        assert other.shape != paths[0].shape or not np.allclose(other, paths[0])


def test_plot_aggregation_point_sizes_are_the_final_weights():
    fig = cl.plot_aggregation(n_clusters=2, spread=0.3, seed=1, iterations=5, scale=2.0)
    points, _, _ = appetisers.make_cloud(2, 0.3, 1)
    x_end = softmax_aggregate(points, 5, 2.0)[-1]
    sizes = fig.axes[0].collections[0].get_sizes()
    np.testing.assert_allclose(sizes, 8 + 1500 * aggregation_weights(x_end, points, 2.0))


def test_plot_aggregation_zero_iterations_stays_at_mean():
    fig = _render(cl.plot_aggregation(iterations=0))
    path = fig.axes[0].lines[0].get_xydata()
    assert path.shape == (1, 2)


def test_scale_small_stays_near_mean_large_commits():
    points, _, _ = appetisers.make_cloud(3, 0.4, 0)
    mean = points.mean(axis=0)
    small = softmax_aggregate(points, 200, 0.01)[-1]
    large = softmax_aggregate(points, 200, 30.0)[-1]
    assert np.linalg.norm(small - mean) < 0.05
    assert np.linalg.norm(large - mean) > 1.0
    assert aggregation_weights(large, points, 30.0).max() > 0.9


def test_plot_scale_sweep_end_points_change_with_scale():
    points, labels, _ = appetisers.make_cloud(3, 0.4, 0)
    scales = np.array([0.01, 0.3, 3.0])
    fig, finals = cl.plot_scale_sweep(points, scales, iterations=100, labels=labels)
    _render(fig)
    assert finals.shape == (3, 2) and np.all(np.isfinite(finals))
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), finals)
    assert np.linalg.norm(finals[0] - finals[1]) > 1.0
    assert np.linalg.norm(finals[1] - finals[2]) > 1.0


def test_jacobian_matches_finite_differences():
    points, _, _ = appetisers.make_cloud(3, 0.4, 2)
    x = np.array([0.3, -0.7])
    s = 0.7
    step = lambda v: aggregation_weights(v, points, s) @ points  # noqa: E731
    h = 1e-6
    numeric = np.column_stack([(step(x + h * e) - step(x - h * e)) / (2 * h) for e in np.eye(2)])
    jac = appetisers.jacobian(x, points, s)
    np.testing.assert_allclose(jac, numeric, atol=1e-6)
    np.testing.assert_allclose(jac, jac.T)
    assert np.all(np.linalg.eigvalsh(jac) >= -1e-12)


def test_steps_peak_near_critical_scale():
    points, _, _ = appetisers.make_cloud(3, 0.4, 0)
    crit = appetisers.critical_scale(points)
    near = appetisers.steps_to_converge(points, 1.2 * crit)
    far = [appetisers.steps_to_converge(points, s) for s in (0.2 * crit, 10 * crit)]
    assert near > 3 * max(far)
    assert appetisers.steps_to_converge(points, 1.2 * crit, max_iterations=10) == 10


def test_plot_steps_vs_scale_data_change_with_spread():
    scales = np.logspace(-2, 1, 8)
    fig, steps = cl.plot_steps_vs_scale(scales, spreads=(0.2, 1.0), n_clusters=3, seed=0, max_iterations=100)
    _render(fig)
    assert steps.shape == (2, 8)
    assert np.all((steps >= 0) & (steps <= 100))
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), steps[0])
    assert not np.array_equal(steps[0], steps[1])


def test_energy_never_increases():
    points, _, _ = appetisers.make_cloud(4, 0.6, 7)
    for s in (0.1, 1.0, 5.0):
        xs = softmax_aggregate(points, 60, s)
        energies = np.array([appetisers.energy(x, points, s) for x in xs])
        assert np.all(np.diff(energies) <= 1e-10)
        moves = np.linalg.norm(np.diff(xs, axis=0), axis=1)
        # each step lowers E by at least half its squared length
        assert np.all(energies[:-1] - energies[1:] >= 0.5 * moves ** 2 - 1e-10)


def test_plot_inner_product_vs_distance_draws_both_paths():
    points, labels, _ = appetisers.make_cloud(3, 0.4, 0)
    fake = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 1.5]])
    fig = _render(cl.plot_inner_product_vs_distance(points, 4, 1.0, fake, labels))
    left = fig.axes[0].lines[0].get_xydata()
    right = fig.axes[1].lines[0].get_xydata()
    np.testing.assert_allclose(left, softmax_aggregate(points, 4, 1.0))
    np.testing.assert_allclose(right, fake)
