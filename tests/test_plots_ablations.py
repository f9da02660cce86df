"""Tests for capsule_lesson.plots.ablations, the figures and helpers behind notebooks 09 and 10."""

import json
import pathlib

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import numpy as np
import pytest

from capsule_lesson.overlap import overlay_pairs
from capsule_lesson.experiments import missing_jobs
from capsule_lesson.plots.ablations import (
    plot_found_by_class, plot_item_pairs, plot_overlap_example, plot_overlap_strip, plot_overlap_sweep,
    plot_routing_ablation, plot_squash_ablation, plot_strict_tests,
)
from capsule_lesson.records import (METRICS, ROUTING_COUNTS, SQUASH_CONFIGS, load_rows, routing_grid,
                                    same_model_gaps, select, squash_grid, squash_label)
from capsule_lesson.statistics import compare_seeds, format_table, mean_std, seed_verdict


def row(seed=0, routings=3, update="replace", squash="su", inner="", model="capsule", dataset="mnist", base=0.9):
    r = {"dataset": dataset, "model": model, "seed": seed, "epochs": 10,
         "routings": routings if model == "capsule" else "", "update": update if model == "capsule" else "",
         "squash": squash if model == "capsule" else "", "inner_squash": inner,
         "test_accuracy": 0.99, "train_time_s": 1.0}
    for k, metric in enumerate(("side_top2", "side_top2_confident", "stacked_top2", "stacked_top2_confident")):
        r[metric] = base - 0.01 * k - 0.02 * seed
    return r


@pytest.fixture(scope="module")
def fake_rows():
    rows = [row(s, r, u, base=0.95 - 0.01 * r - (0.1 if u == "accumulate" else 0.0))
            for s in (0, 1, 2) for r in (1, 3) for u in ("replace", "accumulate")]
    rows += [row(0, 5, "replace", base=0.8)]
    rows += [row(0, squash="tanh", base=0.7), row(0, squash="su", inner="unit", base=0.6),
             row(1, squash="su", inner="unit", base=0.6), row(0, model="cnn", base=0.4)]
    return rows


def test_shipped_records_load_and_group():
    rows = load_rows()
    assert len(rows) >= 19
    assert all(set(METRICS) <= set(r) for r in rows)
    grid = routing_grid(rows, "stacked_top2")
    assert len(grid[("replace", 3)]) >= 3 and len(grid[("accumulate", 3)]) >= 3
    assert all(np.all((v >= 0) & (v <= 1)) for v in grid.values())
    sq = squash_grid(rows, "side_top2")
    np.testing.assert_array_equal(sq[("su", "")], grid_side := routing_grid(rows, "side_top2")[("replace", 3)])
    assert len(grid_side) >= 3
    gaps = same_model_gaps(rows)
    assert set(gaps) == {(r, s) for r in (1, 2) for s in (0, 1, 2)}
    assert all(abs(g) < 0.05 for gap in gaps.values() for g in gap.values())


def test_select_and_grids(fake_rows):
    assert [r["seed"] for r in select(fake_rows, routings=1, update="accumulate")] == [0, 1, 2]
    assert len(select(fake_rows, model="cnn")) == 1
    assert select(fake_rows, squash="su", inner_squash="unit")[0]["inner_squash"] == "unit"
    grid = routing_grid(fake_rows, "side_top2")
    assert grid[("replace", 10)].size == 0 and grid[("replace", 5)].size == 1
    np.testing.assert_allclose(grid[("replace", 1)], [0.94, 0.92, 0.90])
    sq = squash_grid(fake_rows, "side_top2")
    assert sq[("tanh", "")].tolist() == [0.7] and sq[("su", "unit")].size == 2 and sq[("none", "")].size == 0
    with pytest.raises(ValueError, match="unknown metric"):
        routing_grid(fake_rows, "accuracy")


def test_mean_std_and_labels():
    assert mean_std([]) == "not run"
    assert mean_std([0.8642]) == "86.4"
    assert mean_std([0.8, 0.9, 1.0]) == "90.0 ± 10.0"
    assert mean_std([0.5, 0.7], scale=1, digits=2) == "0.60 ± 0.14"
    assert squash_label("su") == "su (article)" and squash_label("su", "unit") == "su, inner unit"
    table = format_table(["a", "b"], [["x", "1"], ["yy", "22"]])
    assert table.splitlines()[0] == "a  |  b" and table.splitlines()[-1] == "yy | 22"
    with pytest.raises(ValueError):
        format_table(["a", "b"], [["x"]])


def test_same_model_gaps(fake_rows):
    gaps = same_model_gaps(fake_rows, metrics=("side_top2",))
    assert set(gaps) == {(1, 0), (1, 1), (1, 2)}                       # no r = 2 runs in the fake records
    assert all(g["side_top2"] == pytest.approx(0.1) for g in gaps.values())


def test_compare_seeds_is_an_exact_permutation_test():
    diff, separated, p = compare_seeds([0.9, 0.8, 0.85], [0.7, 0.75, 0.6])
    assert diff == pytest.approx(0.5 / 3) and separated and p == pytest.approx(1 / 20)  # the best 3 vs 3 can do
    diff, separated, p = compare_seeds([0.6, 0.75, 0.7], [0.9, 0.8, 0.85])             # the other direction
    assert diff == pytest.approx(-0.5 / 3) and separated and p == pytest.approx(1 / 20)
    diff, separated, p = compare_seeds([0.9, 0.6, 0.8], [0.85, 0.7, 0.75])
    assert not separated and 0.25 < p <= 0.6                                           # interleaved: no evidence
    assert compare_seeds([1.0, 2.0], [1.0, 2.0])[2] > 0.5                              # equal means
    assert compare_seeds([3.0], [1.0, 2.0]) == (pytest.approx(1.5), True, pytest.approx(1 / 3))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        compare_seeds([], [1.0])


def test_seed_verdict_is_compare_seeds_as_text():
    assert seed_verdict([0.9, 0.8, 0.85], [0.7, 0.75, 0.6]) == "+16.7  p = 0.05 *"
    assert seed_verdict([0.9, 0.6, 0.8], [0.85, 0.7, 0.75], digits=2) == "+0.00  p = 0.55  "


def test_missing_jobs(tmp_path):
    from capsule_lesson.experiments import plan

    jobs = plan("routing")
    assert len(missing_jobs("routing", tmp_path)) == len(jobs)
    (tmp_path / f"{jobs[0]['name']}.json").write_text(json.dumps({}))
    (tmp_path / jobs[1]["name"]).mkdir()
    (tmp_path / jobs[1]["name"] / "record.json").write_text(json.dumps({}))
    left = missing_jobs("routing", tmp_path)
    assert len(left) == len(jobs) - 2 and jobs[0] not in left and jobs[1] not in left
    assert len(missing_jobs("fashion", tmp_path)) == 6


def mean_line(fig, name):
    return np.asarray(next(l for l in fig.axes[0].lines if l.get_label() == name).get_ydata(), dtype=float)


def test_routing_plot_shows_the_grid(fake_rows):
    fig = plot_routing_ablation(fake_rows, "side_top2")
    replace = mean_line(fig, "replace mean")
    grid = routing_grid(fake_rows, "side_top2")
    assert len(replace) == len(ROUTING_COUNTS)
    np.testing.assert_allclose(replace, [92, np.nan, 90, 80, np.nan])
    np.testing.assert_allclose(replace[0], 100 * grid[("replace", 1)].mean())
    np.testing.assert_allclose(replace[2], 100 * grid[("replace", 3)].mean())
    assert np.isnan(replace[1]) and np.isnan(replace[4])              # r = 2 and 10 not run
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("not\nrun") == 3                      # r = 2 and 10 (one label each), r = 5 accumulate
    other = mean_line(plot_routing_ablation(fake_rows, "stacked_top2_confident"), "replace mean")
    assert np.all(np.isfinite(other[[0, 2, 3]])) and not np.allclose(other[[0, 2, 3]], replace[[0, 2, 3]])
    accumulate = mean_line(fig, "accumulate mean")
    assert np.all(accumulate[[0, 2]] < replace[[0, 2]])


def test_squash_plot_means(fake_rows):
    fig = plot_squash_ablation(fake_rows, "side_top2")
    heights = mean_line(fig, "mean")
    assert len(heights) == len(SQUASH_CONFIGS)
    sq = squash_grid(fake_rows, "side_top2")
    for h, config in zip(heights, SQUASH_CONFIGS):
        if sq[config].size:
            assert h == pytest.approx(100 * sq[config].mean())
        else:
            assert np.isnan(h)
    assert [t.get_text() for t in fig.axes[0].texts].count("not\nrun") == len(SQUASH_CONFIGS) - 3
    other = mean_line(plot_squash_ablation(fake_rows, "stacked_top2"), "mean")
    finite = np.isfinite(heights)
    assert not np.allclose(other[finite], heights[finite])


def test_strict_tests_plot_draws_a_and_the_exact_set_per_configuration():
    def run(a, exact):
        return {"stacked_top2": a, "stacked_exact_set": exact, "side_top2": a - 0.1, "side_exact_set": exact / 2}

    rows = {"two seeds": [run(0.9, 0.2), run(0.8, 0.4)], "none yet": [], "one seed": [run(0.5, 0.5)]}
    fig = plot_strict_tests(rows)
    stacked, side = fig.axes[:2]
    assert [p.get_width() for p in stacked.patches] == pytest.approx([85.0, 30.0, 50.0, 50.0])
    assert [p.get_width() for p in side.patches] == pytest.approx([75.0, 15.0, 40.0, 25.0])
    assert [p.get_y() + p.get_height() / 2 for p in stacked.patches] == pytest.approx([-0.19, 0.19, 1.81, 2.19])
    assert [t.get_text() for t in stacked.get_yticklabels()] == list(rows)   # an empty configuration keeps its line
    dots = np.concatenate([line.get_xdata() for line in stacked.lines])
    assert sorted(dots) == pytest.approx([20, 40, 50, 50, 80, 90])


def test_routing_plot_behind_a_widget(fake_rows):
    w = widgets.interactive(plot_routing_ablation, rows=widgets.fixed(fake_rows),
                            metric=widgets.Dropdown(options=list(METRICS), value="side_top2"))
    first = mean_line(w.result, "replace mean")
    w.children[0].value = "test_accuracy"
    second = mean_line(w.result, "replace mean")
    assert np.nanmax(second) == pytest.approx(99.0) and not np.allclose(first[0], second[0])


def sweep_rows():
    rows = []
    for name, base in (("cnn", 0.3), ("capsule", 0.6)):
        for s in (0, 8, 16, 28):
            rows.append({"model": name, "test": "overlay", "shift": s, "pairs": 100, "top2": base + s / 100,
                         "top2_confident": base / 2 + s / 100, "ink_overlap": max(0.0, 0.3 - s / 40)})
        rows.append({"model": name, "test": "multimnist", "shift": 4, "pairs": 100, "top2": base - 0.1,
                     "top2_confident": base / 3, "ink_overlap": float("nan")})
    return rows


def test_overlap_sweep_plot():
    fig = plot_overlap_sweep(sweep_rows())
    a, b = fig.axes
    cnn_a = a.lines[0]
    np.testing.assert_allclose(cnn_a.get_xdata(), [0, 8, 16, 28])
    np.testing.assert_allclose(cnn_a.get_ydata(), [30, 38, 46, 58])
    np.testing.assert_allclose(a.lines[1].get_ydata(), [20])           # the MultiMNIST star
    assert a.lines[2].get_label() == "capsule (replace, article)"
    np.testing.assert_allclose(b.lines[0].get_ydata(), [15, 23, 31, 43])
    assert len(a.patches) == 1                                          # the shaded overlap region


def fake_scorers():
    def ink_per_column_half(images):                   # depends on where the ink is
        images = np.asarray(images, dtype=float) / 255
        w = images.shape[2]
        left, right = images[:, :, : w // 2].mean((1, 2)), images[:, :, w // 2:].mean((1, 2))
        return np.clip(np.stack([left, right] + [left * right] * 8, 1) * 3, 0, 1)

    return {"cnn": ink_per_column_half, "capsule": lambda im: np.full((len(im), 10), 0.25)}


@pytest.fixture(scope="module")
def digits():
    rng = np.random.default_rng(0)
    x = np.zeros((30, 28, 28), np.uint8)
    x[:, 6:22, 8:20] = rng.integers(100, 256, (30, 16, 12))
    return x, rng.integers(0, 10, 30)


def test_overlap_example_follows_the_sliders(digits):
    x, y = digits
    scorers = fake_scorers()

    def state(shift, index=0):
        fig = plot_overlap_example(shift, index, x, y, scorers)
        image = np.asarray(fig.axes[0].images[0].get_array())
        bars = [np.array([p.get_height() for p in c]) for c in fig.axes[1].containers]
        return image, bars

    img0, bars0 = state(0)
    img20, bars20 = state(20)
    assert img0.shape == (28, 28) and img20.shape == (28, 48)
    np.testing.assert_array_equal(img20, overlay_pairs(x, y, 20)[0][0])
    assert len(bars0) == 2 and all(np.all(np.isfinite(b)) for b in bars0 + bars20)
    assert not np.allclose(bars0[0], bars20[0])                       # the ink-reading scorer moved
    np.testing.assert_allclose(bars20[1], 0.25)
    img_other, _ = state(20, index=3)
    assert not np.array_equal(img_other, img20)
    with pytest.raises(ValueError, match="index"):
        plot_overlap_example(0, 10_000, x, y, scorers)
    with pytest.raises(ValueError, match="scorer"):
        plot_overlap_example(0, 0, x, y, {})
    names = [f"item{c}" for c in range(10)]
    fig = plot_overlap_example(28, 0, x, y, scorers, names=names)      # class names, as for Fashion-MNIST
    pair = overlay_pairs(x, y, 28)[1][0]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == names
    assert fig.axes[0].get_title().startswith(f"items item{pair[0]} & item{pair[1]}, shift 28 px")

    w = widgets.interactive(plot_overlap_example, shift=widgets.IntSlider(value=0, min=0, max=28),
                            index=widgets.IntSlider(value=0, min=0, max=5), x=widgets.fixed(x),
                            y=widgets.fixed(y), scorers=widgets.fixed(scorers), names=widgets.fixed(None))
    before = np.asarray(w.result.axes[0].images[0].get_array()).shape
    w.children[0].value = 12
    assert before == (28, 28) and np.asarray(w.result.axes[0].images[0].get_array()).shape == (28, 40)


def test_strip_and_item_pairs(digits):
    x, y = digits
    fig = plot_overlap_strip(x, y, index=1, shifts=(0, 10, 28))
    widths = [np.asarray(ax.images[0].get_array()).shape[1] for ax in fig.axes]
    assert widths == [28, 38, 56]
    images, pairs = overlay_pairs(x, y, 28)
    fig = plot_item_pairs(images, pairs, names=[f"c{i}" for i in range(10)], count=3)
    assert [ax.get_title() for ax in fig.axes] == [f"c{a} + c{b}" for a, b in pairs[:3]]


def test_run_skips_jobs_with_a_shipped_record(tmp_path, monkeypatch):
    import subprocess
    import threading

    import capsule_lesson.experiments as experiments

    started, lock = [], threading.Lock()

    def fake_run(cmd, **kwargs):
        with lock:
            started.append(cmd[cmd.index("--out") + 1])
        return subprocess.CompletedProcess(cmd, 0 if "seed1" not in cmd[cmd.index("--out") + 1] else 3)

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    jobs = experiments.plan("decoder")
    (shipped / f"{jobs[0]['name']}.json").write_text("{}")
    monkeypatch.setattr(experiments, "SHIPPED_RECORDS", shipped)
    monkeypatch.setattr(experiments.subprocess, "run", fake_run)
    done = experiments.run("decoder", tmp_path / "runs", workers=3)
    assert sorted(pathlib.Path(p).name for p in started) == sorted(j["name"] for j in jobs[1:])
    assert done == [(jobs[1]["name"], 3), (jobs[2]["name"], 0)]   # in plan order, with each exit code
    started.clear()
    experiments.run("decoder", tmp_path / "runs2", workers=3, rerun=True)
    assert len(started) == len(jobs) == 3
    started.clear()
    late = experiments.run("decoder", tmp_path / "runs3", workers=1, rerun=True, deadline=-1)
    assert started == [] and [code for _, code in late] == [None, None, None]


def test_run_skips_the_studies_shipped_records_too(tmp_path, monkeypatch):
    """The calibration, routing-family, ablation and Fashion-MNIST records live in folders of their own; their
    plans must not retrain what those folders already hold."""
    import subprocess

    import capsule_lesson.experiments as experiments

    started = []

    def fake_run(cmd, **kwargs):
        started.append(pathlib.Path(cmd[cmd.index("--out") + 1]).name)
        return subprocess.CompletedProcess(cmd, 0)

    for plan_name, attribute in (("calibration", "CALIBRATION_RECORDS"), ("routing_family", "FAMILY_RECORDS"),
                                 ("ablations", "ABLATION_RECORDS"), ("fashion", "FASHION_RECORDS"),
                                 ("fashion_calibrated", "FASHION_RECORDS")):
        shipped = tmp_path / plan_name
        shipped.mkdir()
        jobs = experiments.plan(plan_name, "mixed_bfloat16")
        for job in jobs[:-1]:
            (shipped / f"{job['name']}.json").write_text("{}")
        monkeypatch.setattr(experiments, attribute, shipped)
        monkeypatch.setattr(experiments.subprocess, "run", fake_run)
        started.clear()
        experiments.run(plan_name, tmp_path / f"runs_{plan_name}", precision="mixed_bfloat16")
        assert started == [jobs[-1]["name"]]


def fake_record(seed, device, backend, top2=0.9):
    layouts = {layout: {"top2": top2 - 0.01 * seed, "top2_confident": top2 - 0.02 * seed}
               for layout in ("side", "stacked")}
    return {"dataset": "mnist", "model": "capsule", "seed": seed, "epochs": 10, "train_time_s": 60.0,
            "config": {"routings": 10, "update": "replace", "squash": "su", "inner_squash": None},
            "metrics": {"test_accuracy": 0.99, "two_digit": layouts},
            "device": device, "versions": {"backend": backend}}


def test_summary_and_report_say_where_each_run_was_trained(tmp_path):
    import csv

    from capsule_lesson.experiments import summarize
    from capsule_lesson.records import hardware, trained_on
    from capsule_lesson.reports import markdown_report

    records = tmp_path / "records"
    records.mkdir()
    for seed, device, backend in ((0, "CPU (2 cores)", "tensorflow"), (1, "NVIDIA H100 80GB HBM3", "jax"),
                                  (2, "NVIDIA H100 80GB HBM3", "jax")):
        (records / f"run{seed}.json").write_text(json.dumps(fake_record(seed, device, backend)))
    assert hardware({"device": "CPU (2 cores)", "backend": "tensorflow"}) == "CPU, tensorflow"
    assert hardware({"device": "NVIDIA H100 80GB HBM3", "backend": "jax"}) == "GPU, jax"
    assert trained_on([]) == ""
    assert trained_on([{"device": "CPU (2 cores)", "backend": "tensorflow"}]) == "CPU, tensorflow"
    summarize(records, tmp_path / "out")
    with open(tmp_path / "out" / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert [r["device"] for r in runs] == ["CPU (2 cores)", "NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]
    with open(tmp_path / "out" / "summary.csv") as f:
        (summary,) = list(csv.DictReader(f))
    assert summary["seeds"] == "3" and "device_mean" not in summary
    assert float(summary["side_top2_mean"]) == pytest.approx(0.89)
    report = markdown_report(records)
    assert report.splitlines()[0].endswith("| trained on |")
    assert report.splitlines()[2].endswith("| CPU, tensorflow ×1; GPU, jax ×2 |")


def test_found_by_class_plot_shows_the_numbers():
    found = {"fashion_cnn": np.linspace(0.3, 0.9, 10), "fashion_capsule": np.linspace(0.5, 1.0, 10)}
    single = {"fashion_cnn": np.full(10, 0.9), "fashion_capsule": np.full(10, 0.95)}
    fig = plot_found_by_class(found, single, [f"c{i}" for i in range(10)])
    ax = fig.axes[0]
    np.testing.assert_allclose([b.get_height() for b in ax.containers[1]], 100 * found["fashion_capsule"])
    ticks = {line.get_label(): line.get_ydata() for line in ax.lines}
    np.testing.assert_allclose(ticks["fashion_capsule single"], 95.0)
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["c0", "c1"]
    with pytest.raises(ValueError, match="same models"):
        plot_found_by_class(found, {"fashion_cnn": single["fashion_cnn"]}, [f"c{i}" for i in range(10)])


def test_retrained_twice_pairs_the_same_job_across_two_sets_of_records():
    from capsule_lesson.records import retrained_twice

    def record(seed, cpu, sha, top2, **config):
        r = fake_record(seed, "CPU (2 cores)", "tensorflow", top2)
        r.update(cpu=cpu, weights_sha256=sha, precision="mixed_bfloat16")
        r["config"] = dict(r["config"], **config)
        return r

    first = [record(0, "X", "aa", 0.9), record(1, "X", "bb", 0.9), record(0, "X", "cc", 0.9, squash="tanh")]
    second = [record(1, "Y", "dd", 0.8), record(0, "Y", "aa", 0.9), record(2, "Y", "ee", 0.9),
              record(0, "Y", "ff", 0.5, routing="dynamic", temperature=1.0, squash="exp")]
    pairs = retrained_twice(first, second, metrics=("side_top2", "test_accuracy"))
    assert [(p["seed"], p["same_weights"], p["cpu"]) for p in pairs] == [(0, True, ("X", "Y")), (1, False, ("X", "Y"))]
    assert pairs[1]["gaps"] == {"side_top2": pytest.approx(-0.1), "test_accuracy": 0.0}
    assert retrained_twice(first, [record(0, "Y", "aa", 0.9, routing="dynamic")])[0]["same_weights"]  # the default
    with pytest.raises(ValueError, match="two records in one set"):
        retrained_twice(first + [record(1, "X", "gg", 0.7)], second)
