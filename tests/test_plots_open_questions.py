import copy

import matplotlib
import numpy as np
import pytest

from capsule_lesson import open_questions as oq, trial_and_error as trial
from capsule_lesson.plots import open_questions as po

matplotlib.use("Agg")


def test_search_paths_draw_each_methods_path_to_the_minimum():
    fig = po.plot_search_paths(seed=0)
    ax = fig.axes[0]
    problem = trial.least_squares_problem(2, 0)
    for k, method in enumerate(trial.METHODS):
        trace = trial.fit(method, problem, 1e-3, seed=0, keep_path=True)
        xs, ys = ax.lines[k].get_data()
        np.testing.assert_allclose(np.stack([xs, ys], 1), trace.path)
        assert f"{trace.reached} passes" in ax.lines[k].get_label()
    np.testing.assert_allclose(np.ravel(ax.lines[3].get_data()), problem.theta_star)


def test_search_traces_start_at_one_and_reach_the_target_line():
    fig = po.plot_search_traces(n_params=16, seed=1)
    ax = fig.axes[0]
    for line in ax.lines[:3]:
        ys = line.get_ydata()
        assert ys[0] == pytest.approx(1.0) and ys[-1] <= 1e-2
    assert ax.lines[3].get_ydata()[0] == pytest.approx(1e-2)       # the target
    assert ax.get_title() == "16 parameters"


def test_search_costs_plot_the_medians_with_their_exponents():
    costs = trial.search_costs(sizes=(2, 4, 8), seeds=(0, 1))
    fig = po.plot_search_costs(costs)
    ax = fig.axes[0]
    for line, method in zip(ax.lines[::3], trial.METHODS):   # each errorbar: data line, then two cap lines
        np.testing.assert_allclose(line.get_ydata(), np.median(costs[method], axis=1))
    labels = ax.get_legend_handles_labels()[1]
    assert all("∝ n^" in label for label in labels) and len(labels) == 3


def test_pooled_kernel_figure_shows_both_routes_equal():
    rng = np.random.default_rng(0)
    image, kernel = rng.random((28, 28)), rng.normal(size=(3, 3))
    fig = po.plot_pooled_kernel(kernel, oq.pooled_kernel(kernel), oq.avg_pool(oq.conv2d(image, kernel)),
                                oq.conv2d(image, oq.pooled_kernel(kernel), stride=2))
    a, b = (np.asarray(ax.images[0].get_array()) for ax in fig.axes[2:])
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert a.shape == (13, 13) and fig.axes[1].images[0].get_array().shape == (4, 4)


def fake_records():
    records = {}
    value = 0.1
    for spec in oq.PLAN:
        record = {**spec, "seed": 0, "parameters": 1, "train_time_s": 1.0,
                  "metrics": {"test_accuracy": 0.9, "two_digit": {}}}
        for layout in ("stacked", "side"):
            record["metrics"]["two_digit"][layout] = {"top2": value, "top2_confident": value / 2,
                                                     "exact_set": value / 4, "mean_above": 2.0, "pairs": 10}
            value += 0.05
        record.setdefault("train_on", "single")
        records[oq.record_name(record)] = copy.deepcopy(record)
    return records


def test_downsample_bars_are_the_records_accuracies():
    records = fake_records()
    fig = po.plot_downsample_results(records)
    for ax, layout in zip(fig.axes, ("stacked", "side")):
        heights = [p.get_height() for p in ax.patches]
        expected = [100 * records[f"{m}_{d}_seed0"]["metrics"]["two_digit"][layout]["top2"]
                    for m in ("cnn", "capsule") for d in ("avgpool", "stride", "none")]
        np.testing.assert_allclose(heights, expected)
        assert layout in ax.get_title()


def test_transfer_bars_put_the_pair_trained_cnn_between():
    records = fake_records()
    fig = po.plot_transfer(records)
    heights = [p.get_height() for p in fig.axes[0].patches]
    names = ("cnn_avgpool_seed0", "cnn_avgpool_pairs-stacked_seed0", "capsule_avgpool_seed0")
    expected = [100 * oq.flat_row(records[n])[k] for n in names for k in ("test_accuracy", "stacked_A", "side_A")]
    np.testing.assert_allclose(heights, expected)


def test_timings_plot_both_times_and_their_ratio():
    times = {1: {"forward": 2.0, "forward+backward": 5.0}, 3: {"forward": 4.0, "forward+backward": 13.0}}
    fig = po.plot_timings(times)
    left, right = fig.axes
    np.testing.assert_allclose(left.lines[0].get_ydata(), [2.0, 4.0])
    np.testing.assert_allclose(left.lines[1].get_ydata(), [5.0, 13.0])
    np.testing.assert_allclose(right.lines[0].get_ydata(), [2.5, 3.25])
