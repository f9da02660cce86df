"""The analysis of notebook 14 (does the capsule know what it sees?) and its figures."""

import json

import keras
import numpy as np
import pytest
from readme_support import readme_table

from capsule_lesson import calibration as cal, load_mnist_test
from capsule_lesson.models import capsule_model
from capsule_lesson.plots import calibration as pc
from capsule_lesson.records import flatten


def fake_record(seed, config, **metrics):
    layout = {"top2": 0.9, "top2_confident": 0.9, "exact_set": 0.5, "mean_above": 3.0, "pairs": 10}
    blank = {"top1": 0.9, "exactly_one": 0.4, "mean_above": 2.0}
    record = {"dataset": "mnist", "model": "capsule", "seed": seed, "epochs": 10, "precision": "mixed_bfloat16",
              "train_time_s": 500.0, "config": {"routings": 3, "update": "replace", "squash": "su", **config},
              "metrics": {"test_accuracy": 0.99, "two_digit": {"stacked": dict(layout), "side": dict(layout)},
                          "one_digit_blank": {"stacked": dict(blank), "side": dict(blank)}}}
    for key, value in metrics.items():
        layout_name, metric = key.split("_", 1)
        target = record["metrics"]["one_digit_blank" if metric.startswith("blank_") else "two_digit"][layout_name]
        target[metric.removeprefix("blank_")] = value
    return record


def write(folder, name, record):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record))


def test_variants_are_selected_by_their_settings_and_scored_against_the_bar(tmp_path):
    family, fixes = tmp_path / "family", tmp_path / "fixes"
    for seed in range(3):
        write(family, f"dyn{seed}", fake_record(seed, {"routing": "dynamic"}))
        write(fixes, f"bf{seed}", fake_record(seed, {"trunk_bias": False}, stacked_exact_set=0.95, side_exact_set=0.93))
        write(fixes, f"bfmean{seed}", fake_record(seed, {"trunk_bias": False, "aggregate": "mean"},
                                                  stacked_exact_set=0.6))
    write(fixes, "orphan0", fake_record(0, {"trunk_bias": False, "leaky": True}, stacked_exact_set=0.99))
    variants = {"article": (family, {}), "bias-free": (fixes, {"trunk_bias": False}),
                "mean": (fixes, {"trunk_bias": False, "aggregate": "mean"}),
                "orphan": (fixes, {"trunk_bias": False, "leaky": True}), "missing": (tmp_path / "none", {})}
    rows = cal.variant_rows(variants)
    assert [len(g) for g in rows.values()] == [3, 3, 3, 1, 0]
    met = cal.bar_met(rows["bias-free"])
    assert met["stacked_exact_set"] and met["side_exact_set"] and not met["stacked_top2"]
    assert cal.bar_met([]) == {}
    assert cal.best_variant(rows, min_seeds=3) == "bias-free"   # the one-seed orphan run cannot win
    assert cal.best_variant(rows) == "bias-free"   # the bar is a mean of three seeds: one seed cannot win by default
    assert cal.best_variant({"orphan": rows["orphan"], "mean": rows["mean"]}, min_seeds=1) == "orphan"
    assert cal.best_variant({"a": []}) is None
    cnn = dict(fake_record(0, {"canvas": True}, stacked_exact_set=1.0, side_exact_set=1.0), model="cnn")
    write(fixes, "cnn0", cnn)
    with_cnn = cal.variant_rows({**variants, "cnn": (fixes, {"model": "cnn", "canvas": True})})
    assert len(with_cnn["cnn"]) == 1 and cal.best_variant(with_cnn, min_seeds=1) != "cnn"   # the fixes are the capsule's
    table = cal.calibration_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| variant | seeds | test acc. |") and len(lines) == 2 + len(variants) + 1
    assert "| bias-free | 3 | 99.00 ± 0.00 | 90.0 ± 0.0 | 95.0 ± 0.0 | 3.00 ± 0.00 |" in table
    assert "| missing | 0 | not run |" in table and lines[-1].startswith("| the bar")
    near = [dict(r, test_accuracy=0.99297, stacked_top2=0.96, side_top2=0.96, stacked_blank_exactly_one=0.98,
                 side_blank_exactly_one=0.98) for r in rows["bias-free"]]
    assert "| 6 / 7 (short: test acc. 99.297) |" in cal.calibration_table({"near": near})
    fig = pc.plot_variants(rows)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([50.0, 95.0, 60.0, 99.0])


@pytest.fixture(scope="module")
def digits():
    x, y = load_mnist_test()
    return x[:40], y[:40]


def untrained(trunk_bias):
    keras.utils.set_random_seed(0)
    model = capsule_model(trunk_bias=trunk_bias)
    if trunk_bias:                          # biases as after training: positive, so the ReLUs pass them
        for layer in model.layers:
            if layer.name.startswith("conv"):
                layer.bias.assign(np.full(layer.bias.shape, 0.05, "float32"))
    return model


@pytest.mark.parametrize("layout", ["side", "stacked"])
def test_blank_capsules_are_one_vector_with_biases_and_zero_without(digits, layout):
    with_bias = cal.blank_capsules(untrained(True), digits[0], layout)
    assert with_bias["count"] == 176 and with_bias["blank_spread"] < 1e-6 and with_bias["blank_norm"] > 0
    assert with_bias["digit_norm"] > 0
    without = cal.blank_capsules(untrained(False), digits[0], layout)
    assert without["blank_norm"] == 0.0 and without["blank_spread"] == 0.0


def test_blank_share_and_growing_canvas(digits):
    x, y = digits
    plain = untrained(False)
    share = cal.blank_share(plain, x, y, "side")
    assert share["true"] == pytest.approx(0.0, abs=1e-6) and share["absent"] == pytest.approx(0.0, abs=1e-6)
    biased = cal.blank_share(untrained(True), x, y, "side")
    assert 0 < biased["absent"] < 1
    growth = cal.lengths_on_growing_canvas(untrained(True), x, y, tiles=(1, 2, 3))
    assert [g["capsules"] for g in growth.values()] == [64, 176, 288]
    assert growth[1]["absent"] < growth[2]["absent"] < growth[3]["absent"]   # the sum grows with the canvas
    flat = cal.lengths_on_growing_canvas(plain, x, y, tiles=(1, 2, 3))
    # without biases a blank tile's capsules are zero: past the seam (tile 2) more blank adds nothing
    assert flat[3]["absent"] == pytest.approx(flat[2]["absent"], abs=1e-5)
    assert flat[3]["above"] == flat[2]["above"]
    fig = pc.plot_canvas_growth({"capsule": growth, "capsule_calibrated": flat})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [g["absent"] for g in growth.values()])
    np.testing.assert_allclose(fig.axes[1].lines[1].get_xdata(), [64, 176, 288])


def test_score_bars_draw_the_scores():
    scores = {"cnn": np.linspace(0, 0.9, 10), "capsule": np.linspace(0.9, 0, 10)}
    fig = pc.plot_score_bars(scores, present={3, 7}, title="a pair")
    np.testing.assert_allclose([b.get_height() for b in fig.axes[0].containers[1]], scores["capsule"])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[3] == "3\n(present)" and labels[4] == "4"


def test_the_readme_table_is_the_records_table():
    shown = readme_table("calibration-table")
    rows = cal.variant_rows()
    assert shown == cal.calibration_table(rows)
    from capsule_lesson.models import ARTICLE_EPOCHS

    assert all(r["precision"] == "mixed_bfloat16" and r["epochs"] == ARTICLE_EPOCHS[r["model"]]
               for v in rows.values() for r in v)            # the article's recipe: 10 epochs, the CNN 20
    assert [r["canvas"] for r in rows["CNN + canvas"]] == [True] * len(rows["CNN + canvas"])
    assert [(r["model"], r["canvas"]) for r in rows["CNN"]] == [("cnn", False)] * 3   # the article's CNN, 3 seeds
    assert all(len(rows[name]) >= 1 for name in cal.VARIANTS), [n for n, v in rows.items() if not v]
    assert all(not r["trunk_bias"] for name in cal.VARIANTS if name.startswith("bias-free") for r in rows[name])


def test_the_calibrated_model_is_the_best_variant_and_reproduces_its_record():
    from capsule_lesson import PRETRAINED, load_pretrained, pretrained_record
    from capsule_lesson.train import evaluate

    record = pretrained_record("capsule_calibrated")
    assert record["seed"] == 0 and record["precision"] == "mixed_bfloat16"
    best = cal.best_variant()
    folder, settings = cal.VARIANTS[best]
    assert {k: v for k, v in record["config"].items() if k in settings} == settings
    assert {k: v for k, v in PRETRAINED["capsule_calibrated"].items() if k != "name"} == {
        k: v for k, v in settings.items() if k != "canvas"}
    x, y = load_mnist_test()
    measured = evaluate(load_pretrained("capsule_calibrated"), x[:1000], y[:1000])
    assert measured["test_accuracy"] > 0.98
    model = load_pretrained("capsule_calibrated")
    assert model.get_layer("digit_capsules").compute_dtype == "bfloat16"


def test_the_calibration_plan_retrains_exactly_the_records_of_the_table():
    from capsule_lesson.experiments import CALIBRATION_FIXES, plan

    jobs = {job["name"] for job in plan("calibration", "mixed_bfloat16")}
    assert jobs == {path.stem for path in cal.CALIBRATION_RECORDS.glob("*.json")}
    fixes = {name for name, (folder, _) in cal.VARIANTS.items() if folder == cal.CALIBRATION_RECORDS}
    assert fixes == {*CALIBRATION_FIXES, "CNN", "CNN + canvas"}


def test_the_ablation_table_covers_every_study_of_notebook_09_and_the_plan_trains_its_records(tmp_path):
    from capsule_lesson.experiments import ABLATION_CONFIGS, plan
    from capsule_lesson.records import SQUASH_CONFIGS

    jobs = plan("ablations", "mixed_bfloat16")
    assert len(jobs) == 3 * (len(ABLATION_CONFIGS) + 1)            # every configuration and the decoder, 3 seeds
    assert {path.stem for path in cal.ABLATION_RECORDS.glob("*.json")} <= {job["name"] for job in jobs}
    settings = [s for folder, s in cal.ABLATION_VARIANTS.values() if folder == cal.ABLATION_RECORDS]
    assert sorted(map(str, settings)) == sorted(map(str, [*ABLATION_CONFIGS.values(), {"model": "capsule_decoder"}]))
    # every row of notebook 09's float32 tables has a row here: update rule x routings, each squash, the decoder
    names = " ".join(cal.ABLATION_VARIANTS)
    assert all(f"r = {r}" in names for r in (1, 2, 3, 5, 10))
    assert all(f"{u}, r = {r}" in names for u in ("replace", "accumulate") for r in (3, 5, 10))
    assert all((f"squash {s}" in names or s == "su") if not i else f"{s}, inner {i}" in names
               for s, i in SQUASH_CONFIGS)
    write(tmp_path, "acc0", fake_record(0, {"update": "accumulate"}, stacked_exact_set=0.25))
    write(tmp_path, "acc1", fake_record(1, {"update": "accumulate"}, stacked_exact_set=0.75))
    rows = cal.variant_rows({"accumulate, r = 3": (tmp_path, {"update": "accumulate"}),
                             "r = 5": (tmp_path, {"routings": 5})})
    table = cal.ablation_table(rows).splitlines()
    assert table[0] == ("| configuration | seeds | test acc. | stacked A | stacked B | stacked exact set | "
                        "stacked classes > 0.5 | stacked 1 + blank | side A | side B | side exact set | "
                        "side classes > 0.5 | side 1 + blank |")
    assert table[2].startswith("| accumulate, r = 3 | 2 | 99.00 ± 0.00 | 90.0 ± 0.0 | 90.0 ± 0.0 | 50.0 ± 35.4 |")
    assert table[3].startswith("| r = 5 | 0 | not run |")


def test_ablation_contrasts_compare_every_configuration_with_the_article_over_seeds(tmp_path):
    for seed, (low, high) in enumerate([(0.04, 0.20), (0.05, 0.30), (0.06, 0.25)]):
        write(tmp_path, f"art{seed}", fake_record(seed, {}, stacked_exact_set=low, stacked_mean_above=4.0 + seed))
        write(tmp_path, f"tanh{seed}", fake_record(seed, {"squash": "tanh"}, stacked_exact_set=high,
                                                   stacked_mean_above=3.0 + seed))
    rows = cal.variant_rows({"replace, r = 3 (article)": (tmp_path, {"squash": "su"}),
                             "squash tanh": (tmp_path, {"squash": "tanh"}),
                             "squash exp": (tmp_path, {"squash": "exp"})})
    contrasts = cal.ablation_contrasts(rows)
    assert [row[:2] for row in contrasts] == [["squash tanh", 3]]       # no baseline row, no row without runs
    stacked_exact, stacked_classes, side_exact, _ = contrasts[0][2:]
    assert stacked_exact == "+20.0  p = 0.05 *"                        # every seed above every seed
    assert stacked_classes == "-1.00  p = 0.25  "                      # the seeds interleave: 5 of 20 splits
    assert side_exact.startswith("+0.0")
    assert cal.run_range(rows, ["replace, r = 3 (article)", "squash exp"], "stacked_exact_set") == (0.04, 0.06)
    with pytest.raises(ValueError, match="baseline 'squash exp' has no runs"):
        cal.ablation_contrasts(rows, baseline="squash exp")
    with pytest.raises(ValueError, match="no runs"):
        cal.run_range(rows, ["squash exp"], "stacked_exact_set")
    # the two squash groups of notebook 09's reading name every configuration once
    assert sorted(cal.SQUASH_THROUGHOUT + cal.SQUASH_CHANGED) == sorted(cal.ABLATION_VARIANTS)


def test_the_readme_ablation_table_is_the_records_table():
    shown = readme_table("ablation-table")
    rows = cal.variant_rows(cal.ABLATION_VARIANTS)
    assert shown == cal.ablation_table(rows)
    from capsule_lesson.models import ARTICLE_EPOCHS

    assert all(r["precision"] == "mixed_bfloat16" and r["epochs"] == ARTICLE_EPOCHS[r["model"]] and not r["canvas"]
               and r["trunk_bias"] for group in rows.values() for r in group)


def test_the_fashion_table_selects_each_model_by_dataset_and_the_plans_train_its_records(tmp_path):
    from capsule_lesson.experiments import plan

    jobs = plan("fashion", "mixed_bfloat16") + plan("fashion_calibrated", "mixed_bfloat16")
    assert len(jobs) == 12 and all(job["dataset"] == "fashion_mnist" for job in jobs)
    assert {path.stem for path in cal.FASHION_RECORDS.glob("*.json")} <= {job["name"] for job in jobs}
    fashion = tmp_path / "fashion"
    for seed in range(2):
        write(fashion, f"caps{seed}", dict(fake_record(seed, {}, stacked_exact_set=0.1 + 0.2 * seed),
                                           dataset="fashion_mnist"))
        write(fashion, f"cal{seed}", dict(fake_record(seed, {"trunk_bias": False, "canvas": True}),
                                          dataset="fashion_mnist"))
        write(fashion, f"mnist{seed}", fake_record(seed, {}))              # a digit run is no clothing row
    write(fashion, "cnn0", dict(fake_record(0, {}), dataset="fashion_mnist", model="cnn"))
    variants = {name: (fashion, settings) for name, (_, settings) in cal.FASHION_VARIANTS.items()}
    rows = cal.variant_rows(variants)
    assert [len(group) for group in rows.values()] == [1, 2, 2, 0]
    table = cal.fashion_table(rows).splitlines()
    assert table[0].startswith("| model | seeds | test acc. | stacked A | stacked B | stacked exact set |")
    assert table[3].startswith("| capsule (article) | 2 | 99.00 ± 0.00 | 90.0 ± 0.0 | 90.0 ± 0.0 | 20.0 ± 14.1 |")


def test_the_readme_fashion_table_is_the_records_table():
    from capsule_lesson.models import ARTICLE_EPOCHS

    shown = readme_table("fashion-table")
    rows = cal.variant_rows(cal.FASHION_VARIANTS)
    assert shown == cal.fashion_table(rows)
    seeds = {name: len(group) for name, group in rows.items()}
    assert seeds["CNN"] == seeds["capsule (article)"] == seeds["capsule, calibrated (bias-free + canvas)"] == 3
    assert seeds["CNN + canvas"] == 3
    assert all(r["precision"] == "mixed_bfloat16" and r["epochs"] == ARTICLE_EPOCHS[r["model"]]
               and r["dataset"] == "fashion_mnist" for group in rows.values() for r in group)


def test_layout_table_and_single_item_ceiling():
    group = [fake_record(seed, {}, stacked_top2=0.8, stacked_exact_set=0.2, side_top2=0.5, side_exact_set=0.5)
             for seed in range(2)]
    rows = {"capsule": [flatten(r) for r in group], "none yet": []}
    stacked = cal.layout_table(rows, "stacked", first="model").splitlines()
    assert stacked[0].split("|")[0].strip() == "model"
    assert [cell.strip() for cell in stacked[0].split("|")[1:]] == ["seeds", "test acc."] + [
        f"stacked {label}" for label in ("A", "B", "exact set", "classes > 0.5", "1 + blank")]
    assert [cell.strip() for cell in stacked[2].split("|")] == [
        "capsule", "2", "99.00 ± 0.00", "80.0 ± 0.0", "90.0 ± 0.0", "20.0 ± 0.0", "3.00 ± 0.00", "40.0 ± 0.0"]
    assert "side" not in cal.layout_table(rows, "stacked") and "stacked" not in cal.layout_table(rows, "side")
    single, squared, not_exact = cal.single_item_ceiling(rows["capsule"])
    assert single == pytest.approx(0.99) and squared == pytest.approx(0.9801)
    assert not_exact == pytest.approx({"stacked": 0.75, "side": 0.0})
    with pytest.raises(ValueError, match="at least one run"):
        cal.single_item_ceiling([])
    with pytest.raises(ValueError, match="no pair stacked"):
        cal.single_item_ceiling([flatten(fake_record(0, {}, stacked_top2=0.0))])
