import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest

from capsule_lesson import coupling_entropy, dynamic_routing
from capsule_lesson.plots import routing as pr
from capsule_lesson.routing_family import rule_curves
from capsule_lesson.toy import cats_and_dogs

matplotlib.use("Agg")

TOY = cats_and_dogs()


def scatter_sizes(ax):
    return np.concatenate([col.get_sizes() for col in ax.collections])


def v_line(ax):
    x, y = ax.lines[0].get_data()
    return np.array([x[1], y[1]])


def test_predictions_without_routing_plot_every_prediction_once():
    fig = pr.plot_predictions(TOY)
    assert len(fig.axes) == 3
    for j, ax in enumerate(fig.axes):
        points = np.concatenate([col.get_offsets() for col in ax.collections])
        assert points.shape == (10, 2)
        np.testing.assert_allclose(np.sort(points, axis=0), np.sort(TOY.u_hat[:, j], axis=0))
        assert len(ax.lines) == 2                      # only the two axis lines: no v_j without routing


def test_clusters_draw_v_and_couplings():
    fig = pr.plot_clusters(routings=3, update="replace", squash="su", toy=TOY)
    result = dynamic_routing(TOY.u_hat, routings=3)
    for j, ax in enumerate(fig.axes):
        assert len(ax.lines) == 4                      # v_j, its dotted ray, the two axis lines
        np.testing.assert_allclose(v_line(ax), result.v[j])
        sizes = scatter_sizes(ax)
        assert np.all(np.isfinite(sizes)) and sizes.min() > 0
        # members (drawn first) are bigger than strays: they are coupled more strongly
        members = int(np.sum(TOY.members[:, j] & (np.arange(10) != TOY.dual)))
        assert sizes[:members].min() > np.median(sizes[members:-1])


@pytest.mark.parametrize("other", [dict(routings=1), dict(update="accumulate", routings=10),
                                   dict(squash="none"), dict(squash="hinton")])
def test_clusters_change_with_every_slider(other):
    settings = dict(routings=3, update="replace", squash="su")
    base = pr.plot_clusters(**settings, toy=TOY)
    changed = pr.plot_clusters(**{**settings, **other}, toy=TOY)
    v_base = np.array([v_line(ax) for ax in base.axes])
    v_changed = np.array([v_line(ax) for ax in changed.axes])
    s_base = np.concatenate([scatter_sizes(ax) for ax in base.axes])
    s_changed = np.concatenate([scatter_sizes(ax) for ax in changed.axes])
    assert np.all(np.isfinite(v_changed)) and np.all(np.isfinite(s_changed))
    assert not (np.allclose(v_base, v_changed) and np.allclose(s_base, s_changed))


def test_squash_none_gives_long_outputs():
    fig = pr.plot_clusters(routings=3, squash="none", toy=TOY)
    assert max(np.linalg.norm(v_line(ax)) for ax in fig.axes) > 1.0
    fig = pr.plot_clusters(routings=3, squash="su", toy=TOY)
    assert max(np.linalg.norm(v_line(ax)) for ax in fig.axes) < 1.0


def test_couplings_heatmaps_and_dual_lines_match_the_routing():
    fig = pr.plot_couplings(routings=3, update="replace", toy=TOY)
    result = dynamic_routing(TOY.u_hat, routings=3)
    assert len(fig.axes) == 4                          # 3 heatmaps + the line panel
    for r, ax in enumerate(fig.axes[:3]):
        np.testing.assert_allclose(ax.images[0].get_array(), result.c_history[r])
    lines = fig.axes[-1].lines
    assert len(lines) == 3
    for j, line in enumerate(lines):
        np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(line.get_ydata(), result.c_history[:, TOY.dual, j])


@pytest.mark.parametrize("routings", [1, 4, 5, 30])
def test_couplings_panel_count_is_capped(routings):
    fig = pr.plot_couplings(routings=routings, toy=TOY, max_panels=4)
    assert len(fig.axes) == min(routings, 4) + 1
    assert fig.axes[0].get_title() == "iteration 1"
    assert fig.axes[-2].get_title() == f"iteration {routings}"


def test_couplings_differ_between_update_rules():
    rep = pr.plot_couplings(routings=20, update="replace", toy=TOY)
    acc = pr.plot_couplings(routings=20, update="accumulate", toy=TOY)
    dog_rep = rep.axes[-1].lines[1].get_ydata()
    dog_acc = acc.axes[-1].lines[1].get_ydata()
    np.testing.assert_allclose(dog_rep[:2], dog_acc[:2])   # iterations 1-2 are identical
    assert dog_rep[-1] > 0.3 and dog_acc[-1] < 0.01        # the eyes lose 'dog' only under accumulate
    final = acc.axes[-2].images[0].get_array()
    assert coupling_entropy(final) < 0.01


def test_rule_curves_measure_the_claims():
    curves = rule_curves(TOY.u_hat, max_routings=30)
    (h_rep, d_rep), (h_acc, d_acc) = curves["replace"], curves["accumulate"]
    assert h_rep.shape == h_acc.shape == (30,)
    np.testing.assert_allclose([h_rep[0], h_acc[0]], np.log(3))
    assert np.isnan(d_rep[0]) and np.isnan(d_acc[0])
    assert h_acc[-1] < 1e-3 < h_rep[-1]                    # accumulate -> one-hot, replace stays soft
    assert d_rep[-1] < 1e-12 < d_acc[-1]                   # replace reached its fixed point


def test_rule_comparison_lines_and_sliders():
    base = pr.plot_rule_comparison(max_routings=30, squash="su", scale=1.0, toy=TOY)
    ax_h, ax_d = base.axes
    curves = rule_curves(TOY.u_hat, max_routings=30)
    np.testing.assert_allclose(ax_h.lines[0].get_ydata(), curves["replace"][0])
    np.testing.assert_allclose(ax_h.lines[1].get_ydata(), curves["accumulate"][0])
    d = ax_d.lines[0].get_ydata()
    assert np.all(np.isfinite(d)) and np.all(d > 0)        # floored for the log axis
    assert ax_d.get_yscale() == "log"

    scaled = pr.plot_rule_comparison(max_routings=30, squash="su", scale=3.0, toy=TOY)
    assert scaled.axes[0].lines[0].get_ydata()[-1] < ax_h.lines[0].get_ydata()[-1] - 0.1
    squashed = pr.plot_rule_comparison(max_routings=30, squash="none", toy=TOY)
    assert not np.allclose(squashed.axes[0].lines[0].get_ydata(), ax_h.lines[0].get_ydata())
    longer = pr.plot_rule_comparison(max_routings=50, toy=TOY)
    assert len(longer.axes[0].lines[0].get_ydata()) == 50


def test_widget_redraws_with_new_values():
    w = widgets.interactive(
        pr.plot_couplings,
        routings=widgets.IntSlider(value=5, min=1, max=30),
        update=widgets.Dropdown(options=("replace", "accumulate"), value="replace"),
        squash=widgets.Dropdown(options=("su", "hinton", "none"), value="su"),
        toy=widgets.fixed(TOY), max_panels=widgets.fixed(4))
    w.update()
    first = w.result.axes[-1].lines[1].get_ydata().copy()
    w.children[0].value = 12
    w.children[1].value = "accumulate"
    second = w.result.axes[-1].lines[1].get_ydata()
    assert len(second) == 12 and np.all(np.isfinite(second))
    assert second[-1] < first[-1]


def test_shown_iterations_include_first_and_last():
    assert pr._shown_iterations(3, 4) == [0, 1, 2]
    shown = pr._shown_iterations(30, 4)
    assert shown[0] == 0 and shown[-1] == 29 and len(shown) == 4
