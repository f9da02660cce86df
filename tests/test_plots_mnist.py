"""Tests for capsule_lesson.plots.mnist, the figures and helpers behind notebooks 07 and 08."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
import pytest

from capsule_lesson import capsule_model, cnn_baseline, two_digit_test_set
from capsule_lesson.inspection import (capsule_couplings, margin_loss_terms, pair_sources, pixel_votes,
                                       predict_scores, region_shares, top_two)
from capsule_lesson.plots.mnist import (
    plot_coupling_map, plot_digit_scores, plot_gallery, plot_history, plot_margin_loss, plot_pair_at,
    plot_pair_examples, plot_score_histograms, plot_scores_at, plot_second_scores, trunk_grid_extent,
)
from capsule_lesson.statistics import format_table


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3], dtype=np.uint8)
    return x, y


@pytest.fixture(scope="module")
def small_capsule_model():
    import keras

    keras.utils.set_random_seed(0)
    return capsule_model()


# ---------------------------------------------------------------- margin loss

def test_margin_loss_terms_match_the_formula():
    s = np.linspace(0, 1, 41)
    for m_plus, m_minus, lam in ((0.9, 0.1, 0.25), (0.8, 0.3, 0.5), (1.0, 0.0, 1.0)):
        present, absent = margin_loss_terms(s, m_plus, m_minus, lam)
        np.testing.assert_allclose(present, np.maximum(0, m_plus - s) ** 2, atol=1e-6)
        np.testing.assert_allclose(absent, lam * np.maximum(0, s - m_minus) ** 2, atol=1e-6)


def test_plot_margin_loss_follows_each_slider():
    def lines(**kw):
        fig = plot_margin_loss(**kw)
        return [np.asarray(line.get_ydata()) for line in fig.axes[0].lines[:2]]

    base = lines()
    assert all(np.all(np.isfinite(y)) for y in base)
    assert base[0][-1] == pytest.approx(0.0) and base[1][0] == pytest.approx(0.0)
    moved_plus = lines(m_plus=0.7)
    assert not np.allclose(moved_plus[0], base[0]) and np.allclose(moved_plus[1], base[1])
    moved_minus = lines(m_minus=0.4)
    assert np.allclose(moved_minus[0], base[0]) and not np.allclose(moved_minus[1], base[1])
    moved_lam = lines(lam=1.0)
    np.testing.assert_allclose(moved_lam[1], 4 * base[1], atol=1e-6)    # lambda 0.25 -> 1
    with pytest.raises(ValueError):
        plot_margin_loss(m_plus=0.2, m_minus=0.5)


def test_margin_loss_widget_redraws():
    w = widgets.interactive(plot_margin_loss, m_plus=(0.5, 1.0, 0.05), m_minus=(0.0, 0.45, 0.05),
                            lam=(0.0, 1.0, 0.05))
    w.update()
    first = np.asarray(w.result.axes[0].lines[1].get_ydata())
    w.children[2].value = 1.0          # lam
    w.update()
    assert not np.allclose(np.asarray(w.result.axes[0].lines[1].get_ydata()), first)


# ---------------------------------------------------------------- records and scores

def test_plot_history_draws_the_records():
    history = {"loss": [0.3, 0.2, 0.1], "val_loss": [0.35, 0.25, 0.2],
               "accuracy": [0.97, 0.98, 0.99], "val_accuracy": [0.975, 0.98, 0.985]}
    other = {k: [v + 0.001 for v in vals] for k, vals in history.items()}
    fig = plot_history({"cnn": history, "capsule": other})
    ax_loss, ax_acc = fig.axes
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), history["loss"])
    np.testing.assert_allclose(ax_loss.lines[1].get_ydata(), history["val_loss"])
    np.testing.assert_allclose(ax_acc.lines[3].get_ydata(), other["val_accuracy"])
    np.testing.assert_allclose(ax_acc.lines[0].get_xdata(), [1, 2, 3])


def test_plot_score_histograms_splits_correct_and_wrong():
    labels = np.array([0, 1, 2, 3])
    scores = np.full((4, 10), 0.05)
    scores[[0, 1, 2], [0, 1, 2]] = 0.95       # three right
    scores[3, 5] = 0.6                        # one wrong
    fig, data = plot_score_histograms({"capsule": scores}, labels)
    np.testing.assert_allclose(data["capsule"]["top_correct"], [0.95] * 3)
    np.testing.assert_allclose(data["capsule"]["top_wrong"], [0.6])
    assert data["capsule"]["absent"].size == 4 * 9
    assert len(fig.axes) == 2


def test_plot_score_histograms_legend_sits_above_the_bars():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    scores = rng.random((500, 10)) * 0.4
    scores[np.arange(500), labels] = rng.uniform(0.3, 1.0, 500)   # right and wrong answers at every height
    fig, _ = plot_score_histograms({"cnn": scores, "capsule": scores[::-1]}, labels)
    renderer = FigureCanvasAgg(fig).get_renderer()             # the figure is closed: draw it on its own canvas
    fig.draw(renderer)
    for ax in fig.axes[::2]:                                   # the "highest score" panels carry the legend
        legend = ax.get_legend().get_window_extent(renderer)
        tops = [p.get_window_extent(renderer).y1 for p in ax.patches if p.get_window_extent(renderer).height > 0]
        assert legend.y0 >= max(tops), "the legend covers a bar"


def test_plot_digit_scores_bars_are_the_scores(digits):
    x, _ = digits
    s1, s2 = np.linspace(0, 0.9, 10), np.linspace(0.9, 0, 10)
    fig = plot_digit_scores(x[0], {"cnn": s1, "capsule": s2}, true_digits=3)
    bars = fig.axes[1].containers
    np.testing.assert_allclose([p.get_height() for p in bars[0]], s1)
    np.testing.assert_allclose([p.get_height() for p in bars[1]], s2)
    assert fig.axes[1].get_xticklabels()[3].get_fontweight() == "bold"


def test_plot_scores_at_changes_with_the_index(digits):
    x, _ = digits
    images, pairs = two_digit_test_set(x, digits[1], layout="side")
    scores = {"cnn": np.random.default_rng(1).random((len(pairs), 10)),
              "capsule": np.random.default_rng(2).random((len(pairs), 10))}
    heights = []
    for index in (0, 1, len(pairs) - 1):
        fig = plot_scores_at(index, images, pairs, scores, title="pair")
        heights.append([p.get_height() for p in fig.axes[1].containers[0]])
        np.testing.assert_allclose(heights[-1], scores["cnn"][index])
        np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), images[index])
        assert " & ".join(str(d) for d in pairs[index]) in fig.axes[0].get_title()
    assert not np.allclose(heights[0], heights[1])
    w = widgets.interactive(plot_scores_at, index=widgets.IntSlider(0, 0, len(pairs) - 1),
                            images=widgets.fixed(images), labels=widgets.fixed(pairs),
                            scores_by_model=widgets.fixed(scores), title=widgets.fixed("pair"))
    w.children[0].value = 2
    w.update()
    np.testing.assert_allclose([p.get_height() for p in w.result.axes[1].containers[1]], scores["capsule"][2])


def test_plot_gallery_and_examples(digits):
    x, y = digits
    scores = {"cnn": np.eye(10)[y] * 0.9}
    fig = plot_gallery(x, y, scores, indices=[0, 3, 5], columns=2)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert len(titles) == 3 and titles[1].startswith("true: 3") and "3:0.90" in titles[1]
    sets = {layout: two_digit_test_set(x, y, layout=layout) for layout in ("side", "stacked")}
    fig = plot_pair_examples({k: v[0] for k, v in sets.items()}, {k: v[1] for k, v in sets.items()}, count=3)
    assert fig.axes[0].images[0].get_array().shape == (28, 56)
    assert fig.axes[3].images[0].get_array().shape == (56, 28)


def test_top_two_and_second_score_histograms():
    scores = np.array([[0.1, 0.9, 0.3], [0.8, 0.2, 0.7]])
    top1, top2 = top_two(scores)
    np.testing.assert_allclose(top1, [0.9, 0.8])
    np.testing.assert_allclose(top2, [0.3, 0.7])
    fig, data = plot_second_scores({("cnn", "single"): scores, ("cnn", "side"): scores[::-1],
                                    ("capsule", "side"): scores * 0.5})
    assert len(fig.axes) == 2
    np.testing.assert_allclose(data[("capsule", "side")], [0.15, 0.35])


# ---------------------------------------------------------------- helpers

@pytest.mark.parametrize("layout", ["side", "stacked"])
def test_pair_sources_rebuild_the_test_set(digits, layout):
    x, y = digits
    images, pairs = two_digit_test_set(x, y, seed=3, layout=layout)
    first, second = pair_sources(len(x), y, seed=3, layout=layout)
    axis = 2 if layout == "side" else 1
    np.testing.assert_array_equal(np.concatenate([x[first], x[second]], axis=axis), images)
    np.testing.assert_array_equal(np.sort(np.stack([y[first], y[second]], 1), 1), pairs)
    assert np.all(y[first] != y[second])


def test_predict_scores_matches_predict(digits):
    import keras

    keras.utils.set_random_seed(0)
    model = cnn_baseline()
    x, _ = digits
    scores = predict_scores(model, x, batch_size=5)
    expected = model.predict(x[..., None].astype("float32") / 255.0, verbose=0)
    assert scores.shape == (len(x), 10)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    with pytest.raises(ValueError):
        predict_scores(model, x[:0])


@pytest.mark.parametrize("layout, grid", [("side", (8, 22)), ("stacked", (22, 8))])
def test_capsule_couplings_reproduce_the_model(digits, small_capsule_model, layout, grid):
    x, y = digits
    images, _ = two_digit_test_set(x, y, layout=layout)
    images = images[:4]
    look = capsule_couplings(small_capsule_model, images, batch_size=3)
    np.testing.assert_allclose(look.norms, predict_scores(small_capsule_model, images), atol=1e-4)
    assert look.couplings.shape == (4,) + grid + (10,) == look.evidence.shape
    np.testing.assert_allclose(look.couplings.sum(-1), 1.0, atol=1e-9)
    # summed over the pixel capsules, the evidence is the length of s_j along v_j: squash(|s|) = norm
    s_len = look.evidence.sum(axis=(1, 2))
    np.testing.assert_allclose(s_len**2 / (0.5 + s_len**2), look.norms, atol=1e-4)
    one = capsule_couplings(small_capsule_model, images, routings=1)
    np.testing.assert_allclose(one.couplings, 0.1)              # 1 iteration: uniform couplings
    assert not np.allclose(one.norms, look.norms)


def test_region_shares():
    maps = np.zeros((2, 8, 22))
    maps[0, :, :8] = 1.0           # all in the first digit's columns
    maps[1, :, 8:14] = 1.0         # all on the seam
    maps[1, 0, -1] = 48.0          # ... and as much in the last column
    np.testing.assert_allclose(region_shares(maps, "side"), [[1, 0, 0], [0, 0.5, 0.5]])
    np.testing.assert_allclose(region_shares(np.swapaxes(maps, 1, 2), "stacked"), region_shares(maps, "side"))
    with pytest.raises(ValueError):
        region_shares(maps, "diagonal")


def test_plot_coupling_map_draws_the_maps(digits):
    x, y = digits
    images, pairs = two_digit_test_set(x, y, layout="side")
    c = np.random.default_rng(0).dirichlet(np.ones(10), size=(8, 22))
    fig = plot_coupling_map(images[0], c, pairs[0])
    a, b = pairs[0]
    np.testing.assert_allclose(fig.axes[0].images[1].get_array(), c[..., a])
    np.testing.assert_allclose(fig.axes[2].images[1].get_array(), c[..., a] - c[..., b])
    assert fig.axes[0].images[1].get_extent() == list(trunk_grid_extent(8, 22))
    assert trunk_grid_extent(8, 8) == (5.5, 21.5, 21.5, 5.5)    # centred on a 28x28 digit


def test_format_table():
    text = format_table(["model", "A"], [["cnn", "0.40"], ["capsule", 0.9467]])
    lines = text.splitlines()
    assert lines[0] == "model   |      A"
    assert lines[1] == "--------+-------"
    assert lines[3] == "capsule | 0.9467"
    with pytest.raises(ValueError):
        format_table(["a", "b"], [["only one"]])


def test_plot_pair_at_follows_index_and_layout(digits):
    x, y = digits
    sets = {layout: two_digit_test_set(x, y, layout=layout) for layout in ("side", "stacked")}
    rng = np.random.default_rng(0)
    scores = {(m, layout): rng.random((len(sets[layout][1]), 10))
              for m in ("cnn", "capsule") for layout in sets}
    seen = []
    for index, layout in ((0, "side"), (1, "side"), (1, "stacked")):
        fig = plot_pair_at(index, layout, sets, scores)
        heights = [p.get_height() for p in fig.axes[1].containers[1]]
        np.testing.assert_allclose(heights, scores[("capsule", layout)][index])
        assert fig.axes[0].images[0].get_array().shape == sets[layout][0][index].shape
        seen.append(heights)
    assert not np.allclose(seen[0], seen[1]) and not np.allclose(seen[1], seen[2])


def test_vote_scale_shrinks_the_capsules(digits, small_capsule_model):
    x, _ = digits
    full = capsule_couplings(small_capsule_model, x[:3], routings=1)
    shrunk = capsule_couplings(small_capsule_model, x[:3], routings=1, vote_scale=0.25)
    s_full, s_shrunk = full.evidence.sum(axis=(1, 2)), shrunk.evidence.sum(axis=(1, 2))
    np.testing.assert_allclose(s_shrunk, 0.25 * s_full, rtol=1e-5)     # uniform couplings: s scales
    assert np.all(shrunk.norms < full.norms)


def test_cached_votes_give_the_same_look(digits, small_capsule_model):
    x, y = digits
    images, _ = two_digit_test_set(x, y, layout="stacked")
    votes = pixel_votes(small_capsule_model, images[:3], batch_size=2)
    assert votes[0].shape == (3, 22 * 8, 10, 16) and votes[1] == (22, 8)
    direct = capsule_couplings(small_capsule_model, images[:3])
    cached = capsule_couplings(small_capsule_model, votes=votes, batch_size=2)
    for a, b in zip(direct, cached):
        np.testing.assert_allclose(a, b, atol=1e-6)
