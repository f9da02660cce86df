"""The routing-family comparison: the toy scores, settling, the MNIST table from records, and its figures."""

import json

import numpy as np
import pytest
from readme_support import readme_table

from capsule_lesson import ROUTINGS, route
from capsule_lesson.routing_family import (FAMILY_METRICS, coupling_changes, family_rows, family_table,
                                           iterations_to_settle, step_times, toy_outcome, toy_table)
from capsule_lesson.plots.routing_family import plot_family_couplings, plot_family_metrics, plot_settling
from capsule_lesson.toy import cats_and_dogs

TOY = cats_and_dogs(seed=0)


def test_coupling_changes_and_settling_agree():
    result = route(TOY.u_hat, "dynamic", routings=12)
    changes = coupling_changes(result)
    assert changes.shape == (11,)
    first = iterations_to_settle(TOY.u_hat, "dynamic", tol=1e-3)
    assert changes[first - 2] < 1e-3 and np.all(changes[:first - 2] >= 1e-3)
    assert iterations_to_settle(TOY.u_hat, "uniform") == 1
    assert iterations_to_settle(TOY.u_hat, "em", tol=1e-30, max_routings=5) is None


def test_toy_outcome_scores_against_the_truth():
    uniform = toy_outcome(TOY, "uniform")
    np.testing.assert_allclose(uniform["own"], 1 / 3)
    np.testing.assert_allclose(uniform["eyes"], 1 / 3)
    dynamic = toy_outcome(TOY, "dynamic", routings=3)
    assert dynamic["own"] > 0.8                                   # every single-owner part found its object
    assert dynamic["eyes"][2] < 0.05 and dynamic["eyes"][0] > dynamic["eyes"][1] > 0.3   # eyes: cat and dog
    assert np.all(dynamic["cosines"] > 0.99)                      # v_j points along the true direction
    hard = toy_outcome(TOY, "kmeans", routings=3, temperature=0.1)
    soft = toy_outcome(TOY, "kmeans", routings=3, temperature=10.0)
    assert hard["own"] > dynamic["own"] > soft["own"]
    table = toy_table(TOY)
    assert all(name in table for name in ROUTINGS) and len(table.splitlines()) == 1 + len(ROUTINGS)


def fake_record(routing, seed, value):
    metrics = {"test_accuracy": 0.99, "two_digit": {}, "one_digit_blank": {}}
    for layout in ("stacked", "side"):
        metrics["two_digit"][layout] = {"top2": value, "top2_confident": value, "exact_set": value / 2,
                                        "mean_above": 3.0, "pairs": 10}
        metrics["one_digit_blank"][layout] = {"top1": value, "exactly_one": value / 4, "mean_above": 5.0}
    return {"model": "capsule", "dataset": "mnist", "seed": seed, "epochs": 10, "precision": "mixed_bfloat16",
            "config": {"routing": routing, "routings": 1 if routing == "uniform" else 3, "update": "replace",
                       "squash": "su", "inner_squash": None, "temperature": 1.0},
            "train_time_s": 100.0 + seed, "metrics": metrics, "device": "CPU (2 cores)",
            "versions": {"backend": "tensorflow"}}


def test_family_table_from_records(tmp_path):
    values = {"dynamic": (0.9, 0.92, 0.94), "kmeans": (0.8, 0.85, 0.9), "em": (0.5, 0.6, 0.7),
              "uniform": (0.6, 0.61, 0.62)}
    for routing, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            (tmp_path / f"{routing}{seed}.json").write_text(json.dumps(fake_record(routing, seed, value)))
    rows = family_rows(tmp_path)
    assert {k: len(v) for k, v in rows.items()} == {"dynamic": 3, "kmeans": 3, "em": 3, "uniform": 3}
    table = family_table(rows)
    lines = table.splitlines()
    assert lines[0].count("|") == len(FAMILY_METRICS) + 4
    assert "| dynamic | 3 | 99.00 ± 0.00 | 92.0 ± 2.0 |" in table
    assert "| dynamic − uniform | | +0.00 | +31.00 * |" in table      # every dynamic seed beats every uniform one
    assert "| em − uniform | | +0.00 | -1.00 |" in table              # interleaved seeds: no star
    fig = plot_family_metrics(rows)
    heights = [p.get_height() for p in fig.axes[1].patches]
    np.testing.assert_allclose(heights, [92.0, 85.0, 60.0, 61.0])


def test_family_rows_refuse_mixed_precisions(tmp_path):
    a, b = fake_record("dynamic", 0, 0.9), fake_record("dynamic", 1, 0.9)
    b["precision"] = "float32"
    for k, r in enumerate((a, b)):
        (tmp_path / f"r{k}.json").write_text(json.dumps(r))
    with pytest.raises(ValueError, match="mix precisions"):
        family_rows(tmp_path)


def test_step_times_reads_the_benchmark(tmp_path):
    report = {"results": {"tensorflow": {"routings": {"settings": {
        "cnn, float32": {"step": {"median_ms": 100.0}, "ratio_to_cnn": 1.0},
        "capsule em, float32": {"step": {"median_ms": 130.0}, "ratio_to_cnn": 1.3}}}}}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(report))
    assert step_times(path) == {("cnn", "float32"): (100.0, 1.0), ("capsule em", "float32"): (130.0, 1.3)}
    path.write_text(json.dumps({"results": {"tensorflow": {}}}))
    with pytest.raises(ValueError, match="no 'routings' benchmark"):
        step_times(path)


@pytest.mark.parametrize("routing", ROUTINGS)
def test_coupling_figure_shows_the_routing_result(routing):
    fig = plot_family_couplings(routing, routings=4, temperature=0.5, toy=TOY)
    options = {"temperature": 0.5} if routing == "kmeans" else {}
    result = route(TOY.u_hat, routing, routings=4, **options)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), result.c_history[-1])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), result.c_history[:, TOY.dual, 0])


def test_settling_figure():
    fig = plot_settling(max_routings=12, toy=TOY)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["dynamic", "kmeans", "em"]
    objective = fig.axes[1].lines[0].get_ydata()
    assert len(objective) == 11 and np.all(np.diff(objective) >= -1e-9)


def test_readme_table_is_computed_from_the_shipped_records():
    shown = readme_table("routing-family-table")
    assert shown == family_table()
    rows = family_rows()
    assert set(rows) == {"dynamic", "kmeans", "em", "uniform"} and all(len(v) >= 2 for v in rows.values())
    assert all(r["precision"] == "mixed_bfloat16" and r["epochs"] == 10 for v in rows.values() for r in v)
