"""Tests for capsule_lesson.plots.squash, the figures behind notebook 03 (squash)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from capsule_lesson import SQUASH_CONSTANTS, SQUASH_VARIANTS
from capsule_lesson.plots.squash import plot_fixed_points, plot_norm_curves, plot_squash_arrow
from capsule_lesson.squash import effective_k, fixed_point_roots, output_norm, output_norm_slope


def analytic_norm(variant, r, k=None):
    if variant in SQUASH_CONSTANTS:
        k = SQUASH_CONSTANTS[variant] if k is None else k
        return r**2 / (k + r**2)
    return {"tanh": np.tanh(r), "exp": 1 - np.exp(-r), "rational": r / (1 + r), "none": r}[variant]


def analytic_slope(variant, r, k=None):
    if variant in SQUASH_CONSTANTS:
        k = SQUASH_CONSTANTS[variant] if k is None else k
        return 2 * k * r / (k + r**2) ** 2
    return {"tanh": 1 - np.tanh(r) ** 2, "exp": np.exp(-r), "rational": 1 / (1 + r) ** 2,
            "none": np.ones_like(r)}[variant]


@pytest.mark.parametrize("variant", SQUASH_VARIANTS)
def test_output_norm_and_slope_match_formulas(variant):
    r = np.linspace(0.1, 4, 50)
    np.testing.assert_allclose(output_norm(variant, r), analytic_norm(variant, r), rtol=1e-5)
    np.testing.assert_allclose(output_norm_slope(variant, r), analytic_slope(variant, r), atol=1e-5)


def test_output_norm_does_not_depend_on_direction():
    r = np.array([0.3, 1.0, 2.5])
    np.testing.assert_allclose(output_norm("su", r, direction=(3.0, -4.0)), output_norm("su", r))


def test_k_is_used_by_hinton_and_su_only():
    r = np.linspace(0.1, 3, 20)
    assert effective_k("tanh", 0.3) is None and effective_k("su", 0.3) == 0.3
    assert not np.allclose(output_norm("hinton", r, k=0.3), output_norm("hinton", r, k=2.0))
    assert not np.allclose(output_norm("su", r, k=0.3), output_norm("su", r))
    for variant in ("tanh", "exp", "rational", "none"):
        np.testing.assert_array_equal(output_norm(variant, r, k=0.3), output_norm(variant, r, k=2.0))


def test_fixed_point_roots():
    for k in (0.05, 0.1, 0.2, 0.25):
        roots = fixed_point_roots(k)
        assert roots.size >= 1
        np.testing.assert_allclose(output_norm("hinton", roots, k), roots, atol=1e-6)
    assert fixed_point_roots(0.25).tolist() == [0.5]
    for k in (0.26, 0.5, 1.0):
        assert fixed_point_roots(k).size == 0
        r = np.linspace(0.01, 5, 500)
        assert np.all(output_norm("hinton", r, k) < r)


def test_norm_curves_figure_data():
    fig = plot_norm_curves()
    ax_norm, ax_slope = fig.axes
    assert len(ax_norm.lines) == len(SQUASH_VARIANTS) == len(ax_slope.lines)
    for line, slope_line, variant in zip(ax_norm.lines, ax_slope.lines, SQUASH_VARIANTS):
        r, y = line.get_xdata(), line.get_ydata()
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(slope_line.get_ydata()))
        np.testing.assert_allclose(y, analytic_norm(variant, r), rtol=1e-4, atol=1e-6)
    # a different constant changes the hinton and su curves and nothing else
    other = plot_norm_curves(ks={"hinton": 0.2, "su": 2.0})
    for i, variant in enumerate(SQUASH_VARIANTS):
        same = np.allclose(other.axes[0].lines[i].get_ydata(), ax_norm.lines[i].get_ydata())
        assert same == (variant not in SQUASH_CONSTANTS)


def test_norm_curves_loglog_shows_power_two_for_hinton_and_one_for_tanh():
    fig = plot_norm_curves(variants=("hinton", "su", "tanh"), r_min=0.01, r_max=0.05, loglog=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    powers = [np.polyfit(np.log(l.get_xdata()), np.log(l.get_ydata()), 1)[0] for l in ax.lines]
    np.testing.assert_allclose(powers, [2, 2, 1], atol=0.02)
    with pytest.raises(ValueError):
        plot_norm_curves(loglog=True)


def test_fixed_points_figure_marks_crossings_only_for_small_k():
    fig = plot_fixed_points(ks=(0.1, 0.5))
    ax = fig.axes[0]
    # lines: k=0.1 curve, its crossing dots, k=0.5 curve (no dots), diagonal
    assert len(ax.lines) == 4
    dots = ax.lines[1]
    np.testing.assert_allclose(dots.get_xdata(), dots.get_ydata())
    np.testing.assert_allclose(sorted(dots.get_xdata()), [(1 - np.sqrt(0.6)) / 2, (1 + np.sqrt(0.6)) / 2])


def arrow_data(fig):
    ax, ax_curve = fig.axes
    circle, inp, out = ax.lines[:3]
    return (np.array([inp.get_xdata()[1], inp.get_ydata()[1]]),
            np.array([out.get_xdata()[1], out.get_ydata()[1]]),
            ax_curve.lines[0].get_ydata(), circle)


@pytest.mark.parametrize("variant", SQUASH_VARIANTS)
def test_arrow_figure_squashes_the_input_vector(variant):
    x_in, x_out, curve, circle = arrow_data(plot_squash_arrow(variant, 0.5, 1.2, -0.9))
    np.testing.assert_allclose(x_in, [1.2, -0.9])
    r = np.hypot(1.2, -0.9)
    np.testing.assert_allclose(np.linalg.norm(x_out), analytic_norm(variant, r, 0.5 if variant in
                                                                    SQUASH_CONSTANTS else None), rtol=1e-5)
    # same direction as the input
    np.testing.assert_allclose(x_out / np.linalg.norm(x_out), x_in / r, atol=1e-12)
    np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0)
    assert np.all(np.isfinite(curve))


def test_arrow_figure_changes_with_sliders():
    base = arrow_data(plot_squash_arrow("su", 0.5, 0.6, 0.3))
    moved = arrow_data(plot_squash_arrow("su", 0.5, -1.0, 0.8))
    other_k = arrow_data(plot_squash_arrow("su", 1.5, 0.6, 0.3))
    other_variant = arrow_data(plot_squash_arrow("rational", 0.5, 0.6, 0.3))
    assert not np.allclose(base[1], moved[1])
    assert not np.allclose(base[1], other_k[1]) and not np.allclose(base[2], other_k[2])
    assert not np.allclose(base[1], other_variant[1])
    # k is ignored for variants without a constant, and the title says so
    tanh_a = plot_squash_arrow("tanh", 0.2, 0.6, 0.3)
    tanh_b = plot_squash_arrow("tanh", 1.8, 0.6, 0.3)
    np.testing.assert_array_equal(arrow_data(tanh_a)[1], arrow_data(tanh_b)[1])
    assert "ignored" in tanh_a.axes[0].get_title()
    assert "ignored" not in plot_squash_arrow("hinton", 0.2).axes[0].get_title()


def test_arrow_figure_at_zero_is_finite():
    x_in, x_out, curve, _ = arrow_data(plot_squash_arrow("hinton", 1.0, 0.0, 0.0))
    np.testing.assert_array_equal(x_out, [0.0, 0.0])
    assert np.all(np.isfinite(curve))
