"""Figures of notebook 11, driven by a tiny linear "decoder" so the numbers are known."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
import pytest

from capsule_lesson.decoder import DELTAS, dimension_effect, sweep_grid
from capsule_lesson.plots.decoder import (plot_dimension_sweep, plot_masking, plot_pose_edit, plot_reconstructions,
                                          pose_sliders)

BASIS = np.random.default_rng(0).random((16, 28, 28)) / 16


def linear_decode(poses, digit):
    """Image = sum_d pose_d * basis_d + digit / 10: each dimension owns one fixed pattern."""
    poses = np.atleast_2d(poses)
    return np.einsum("nd,dhw->nhw", poses, BASIS) + digit / 10


def test_sweep_grid_moves_one_dimension_per_row():
    pose = np.zeros(16)
    grid = sweep_grid(linear_decode, pose, 3, dims=[0, 5], deltas=(-0.25, 0.0, 0.25))
    assert grid.shape == (2, 3, 28, 28)
    np.testing.assert_allclose(grid[1, 2] - grid[1, 1], 0.25 * BASIS[5])
    np.testing.assert_allclose(grid[:, 1], 0.3)                               # delta 0: the unchanged pose
    effect = dimension_effect(grid)
    np.testing.assert_allclose(effect, [0.5 * BASIS[0].mean(), 0.5 * BASIS[5].mean()])


def test_sweep_figure_is_the_tiled_grid():
    grid = sweep_grid(linear_decode, np.full(16, 0.1), 0)
    assert grid.shape == (16, len(DELTAS), 28, 28) and DELTAS[0] == -0.25 and DELTAS[-1] == 0.25
    fig = plot_dimension_sweep(grid)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (16 * 28, len(DELTAS) * 28)
    np.testing.assert_allclose(mosaic[28:56, 28 * 2:28 * 3], grid[1, 2])


def test_reconstruction_figure():
    images = np.random.default_rng(1).random((4, 28, 28))
    fig = plot_reconstructions(images, images[::-1], [1, 2, 3, 4], [1, 2, 3, 5])
    assert len(fig.axes) == 8 and fig.axes[4].get_title() == "→ 1"
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), images[3])


def test_pose_edit_and_its_sixteen_sliders():
    pose = np.full(16, 0.05)
    fig = plot_pose_edit(linear_decode, pose, 2, np.zeros(16))
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), fig.axes[1].images[0].get_array())
    with pytest.raises(ValueError, match="offsets must have the pose's shape"):
        plot_pose_edit(linear_decode, pose, 2, np.zeros(3))
    box, live = pose_sliders(linear_decode, pose, 2)
    sliders = box.children[0].children
    assert len(sliders) == 16 and {s.min for s in sliders} == {-0.25} and {s.max for s in sliders} == {0.25}
    sliders[7].value = 0.2
    edited = live.result.axes[1].images[0].get_array()
    np.testing.assert_allclose(edited, linear_decode(pose, 2)[0] + 0.2 * BASIS[7], atol=1e-6)
    assert live.result.axes[2].patches[7].get_height() == pytest.approx(0.2)
    box.children[1].click()                                                  # reset
    assert all(s.value == 0 for s in sliders)
    np.testing.assert_allclose(live.result.axes[1].images[0].get_array(), linear_decode(pose, 2)[0], atol=1e-6)


def test_masking_figure_keeps_one_row():
    caps = np.random.default_rng(2).normal(size=(10, 16))
    fig = plot_masking(caps, 4)
    before, after = (ax.images[0].get_array() for ax in fig.axes[:2])
    np.testing.assert_allclose(before, caps)
    np.testing.assert_allclose(after[4], caps[4])
    assert np.count_nonzero(np.delete(np.asarray(after), 4, axis=0)) == 0


def test_masking_figure_row_labels_do_not_cover_a_map():
    fig = plot_masking(np.random.default_rng(2).normal(size=(10, 16)), 4)
    renderer = FigureCanvasAgg(fig).get_renderer()             # the figure is closed: draw it on its own canvas
    fig.draw(renderer)
    left, right = fig.axes[:2]
    labels = [t for ax in (left, right) for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]
    assert len(labels) == 10                                   # each row labelled once
    for label in labels:
        box = label.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in (left, right))
