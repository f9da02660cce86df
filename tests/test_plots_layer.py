import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest

from capsule_lesson import Capsule, dynamic_routing
from capsule_lesson import inspection
from capsule_lesson.plots import layer as pl

matplotlib.use("Agg")


def line_data(fig, k):
    return np.asarray(fig.axes[0].lines[k].get_xdata()), np.asarray(fig.axes[0].lines[k].get_ydata())


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("n_in, input_dim, num_capsule, dim_capsule",
                         [(64, 128, 10, 16), (176, 128, 10, 16), (5, 3, 2, 7)])
def test_layer_parameter_count_is_the_real_layers(n_in, input_dim, num_capsule, dim_capsule):
    for share in (True, False):
        layer = Capsule(num_capsule, dim_capsule, share_weights=share)
        layer.build((None, n_in, input_dim))
        assert inspection.layer_parameter_count(n_in, input_dim, num_capsule, dim_capsule, share) == layer.count_params()
    shared = num_capsule * dim_capsule * input_dim
    assert inspection.layer_parameter_count(n_in, input_dim, num_capsule, dim_capsule, True) == shared
    assert inspection.layer_parameter_count(n_in, input_dim, num_capsule, dim_capsule, False) == n_in * shared


def test_parameter_counts_shared_is_flat_and_fully_connected_is_linear():
    n = (2, 4, 8, 16)
    counts = inspection.parameter_counts(n, input_dim=8, num_capsule=3, dim_capsule=4)
    assert np.all(counts[True] == 96)
    np.testing.assert_array_equal(counts[False], 96 * np.array(n))


def test_parameter_plot_draws_real_counts_and_the_marker():
    n_values = (4, 8, 16, 32)
    fig = pl.plot_parameter_counts(n_in=12, input_dim=8, num_capsule=3, dim_capsule=4, n_in_values=n_values,
                                   marks=(("a", 6),))
    x_shared, y_shared = line_data(fig, 0)
    x_fc, y_fc = line_data(fig, 1)
    np.testing.assert_array_equal(x_shared, n_values)
    np.testing.assert_array_equal(y_shared, [96] * 4)
    np.testing.assert_array_equal(y_fc, 96 * np.array(n_values))
    x_marker, _ = line_data(fig, 2)
    assert np.all(x_marker == 12)
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(offsets, [[6, 6 * 96]])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(text.startswith("n_in = 12: 96 vs 1,152") for text in legend)


@pytest.mark.parametrize("change", [dict(input_dim=16), dict(num_capsule=5), dict(dim_capsule=8)])
def test_parameter_plot_changes_with_every_size_slider(change):
    settings = dict(n_in=12, input_dim=8, num_capsule=3, dim_capsule=4, n_in_values=(4, 8, 16), marks=())
    base = pl.plot_parameter_counts(**settings)
    changed = pl.plot_parameter_counts(**{**settings, **change})
    for k in (0, 1):
        y_base, y_changed = line_data(base, k)[1], line_data(changed, k)[1]
        assert np.all(np.isfinite(y_changed)) and np.all(y_changed > 0)
        assert not np.array_equal(y_base, y_changed)


def test_parameter_plot_marker_follows_n_in_slider():
    settings = dict(input_dim=8, num_capsule=3, dim_capsule=4, n_in_values=(4, 8, 16), marks=())
    a = pl.plot_parameter_counts(n_in=5, **settings)
    b = pl.plot_parameter_counts(n_in=9, **settings)
    assert line_data(a, 2)[0][0] == 5 and line_data(b, 2)[0][0] == 9


def test_parameter_plot_widget_redraws():
    w = widgets.interactive(pl.plot_parameter_counts, n_in=widgets.IntSlider(value=8, min=4, max=64),
                            input_dim=widgets.fixed(8), num_capsule=widgets.IntSlider(value=3, min=2, max=5),
                            dim_capsule=widgets.fixed(4), n_in_values=widgets.fixed((4, 8, 16)),
                            marks=widgets.fixed(()))
    first = line_data(w.result, 1)[1].copy()
    w.children[1].value = 5                                   # num_capsule
    second = line_data(w.result, 1)[1]
    np.testing.assert_array_equal(second, first / 3 * 5)


# ---------------------------------------------------------------- weight-sharing picture


@pytest.mark.parametrize("n_in, num_capsule", [(6, 3), (2, 5), (20, 4)])
def test_weight_sharing_picture_counts_the_matrices(n_in, num_capsule):
    fig = pl.plot_weight_sharing(n_in=n_in, num_capsule=num_capsule)
    fully_connected = np.asarray(fig.axes[0].images[0].get_array())
    shared = np.asarray(fig.axes[1].images[0].get_array())
    assert fully_connected.shape == shared.shape == (n_in, num_capsule)
    assert len(np.unique(fully_connected)) == n_in * num_capsule
    assert len(np.unique(shared)) == num_capsule
    assert np.all(shared == shared[0])                          # every row uses the same W_j
    assert str(n_in * num_capsule) in fig.axes[0].get_title()


def test_weight_sharing_labels_follow_the_articles_w_ji():
    """The cell of input capsule i (row) and output capsule j (column) is labelled W_ji, as in eq. 4."""
    fig = pl.plot_weight_sharing(n_in=6, num_capsule=3)
    labels = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in fig.axes[0].texts}
    assert labels[1, 0] == "$W_{12}$"          # row i = 2, column j = 1
    assert labels[0, 2] == "$W_{31}$"          # row i = 1, column j = 3
    shared = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in fig.axes[1].texts}
    assert shared[1, 0] == shared[4, 0] == "$W_{1}$"


# ---------------------------------------------------------------- couplings before / after


@pytest.fixture(scope="module")
def routed_problem():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 5)
    u_hat_before = 0.1 * rng.standard_normal((15, 6, 3, 4))
    u_hat_after = rng.standard_normal((15, 6, 3, 4))
    groups = np.repeat([0, 1, 2], 2)
    for b, label in enumerate(labels):                         # parts of the present object agree
        u_hat_after[b, groups == label, label] = 2.0 * np.array([1.0, 0.5, -0.5, 0.2])
    return u_hat_before, u_hat_after, labels, groups


def heatmaps(fig):
    return [np.asarray(fig.axes[k].images[0].get_array()) for k in (0, 1)]


def test_mean_couplings_match_routing_reference(routed_problem):
    _, u_hat, labels, _ = routed_problem
    c = inspection.mean_couplings(u_hat, labels, 1, routings=4)
    expected = dynamic_routing(u_hat[labels == 1], routings=4).c_history[-1].mean(axis=0)
    np.testing.assert_allclose(c, expected)
    np.testing.assert_allclose(c.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="no sample"):
        inspection.mean_couplings(u_hat, labels, 7)


def test_coupling_plot_shows_before_and_after(routed_problem):
    before, after, labels, groups = routed_problem
    fig = pl.plot_couplings_before_after(before, after, labels, label=2, routings=3, groups=groups,
                                         class_names=("A", "B", "C"))
    c_before, c_after = heatmaps(fig)
    np.testing.assert_allclose(c_before, inspection.mean_couplings(before, labels, 2, 3))
    np.testing.assert_allclose(c_after, inspection.mean_couplings(after, labels, 2, 3))
    # the agreeing parts are coupled to their object more strongly after "training"
    assert c_after[groups == 2, 2].min() > c_before[groups == 2, 2].max()
    assert len(fig.axes[0].patches) == 1                       # the frame around the shown object's parts


@pytest.mark.parametrize("change", [dict(label=1), dict(routings=6)])
def test_coupling_plot_changes_with_every_slider(routed_problem, change):
    before, after, labels, groups = routed_problem
    settings = dict(label=0, routings=3)
    base = heatmaps(pl.plot_couplings_before_after(before, after, labels, groups=groups, **settings))
    changed = heatmaps(pl.plot_couplings_before_after(before, after, labels, groups=groups,
                                                      **{**settings, **change}))
    assert all(np.all(np.isfinite(c)) for c in changed)
    assert not np.allclose(base[1], changed[1])


def test_one_routing_gives_uniform_couplings(routed_problem):
    before, after, labels, _ = routed_problem
    for c in heatmaps(pl.plot_couplings_before_after(before, after, labels, label=0, routings=1)):
        np.testing.assert_allclose(c, 1 / 3)


def test_coupling_widget_redraws(routed_problem):
    before, after, labels, groups = routed_problem
    w = widgets.interactive(pl.plot_couplings_before_after, label=widgets.Dropdown(options=[0, 1, 2], value=0),
                            routings=widgets.IntSlider(value=3, min=1, max=10),
                            u_hat_before=widgets.fixed(before), u_hat_after=widgets.fixed(after),
                            labels=widgets.fixed(labels), groups=widgets.fixed(groups),
                            class_names=widgets.fixed(None))
    first = heatmaps(w.result)[1].copy()
    w.children[1].value = 8                                     # routings
    assert not np.allclose(first, heatmaps(w.result)[1])
