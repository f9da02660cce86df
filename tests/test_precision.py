"""Training precision: the choice, what "auto" detects, and a bfloat16 training run that learns and says so."""

import json

import keras
import numpy as np
import pytest

import capsule_lesson.precision as precision
from capsule_lesson.precision import PRECISIONS, bfloat16_support, dtype_policy, resolve_precision
from capsule_lesson.train import main as train_main


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose one of auto, float32, mixed_bfloat16"):
        resolve_precision("fp8")


@pytest.mark.parametrize("flags, expected", [({"avx2", "amx_bf16"}, "mixed_bfloat16"),
                                             ({"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
                                             ({"avx2", "avx512f"}, "float32")])
def test_auto_follows_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_description", lambda: ("Test CPU", flags))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        if tf.config.list_physical_devices("GPU"):
            pytest.skip("this machine has a GPU: auto follows the GPU")
    policy, reason = resolve_precision("auto")
    if keras.backend.backend() == "jax":     # measured slower in bfloat16 on a CPU: auto keeps float32
        expected = "float32"
    assert policy == expected and "Test CPU" in reason
    assert resolve_precision("float32")[0] == "float32"          # an explicit choice is kept
    assert resolve_precision("mixed_bfloat16")[0] == "mixed_bfloat16"


def test_this_machine_is_described():
    native, reason = bfloat16_support()
    assert isinstance(native, bool) and reason


def test_the_policy_is_restored_after_building():
    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        from capsule_lesson import capsule_model
        model = capsule_model()
    assert keras.config.dtype_policy().name == before
    assert model.get_layer("digit_capsules").compute_dtype == "bfloat16"
    assert model.get_layer("scores").compute_dtype == "float32"      # scores and loss stay in float32
    assert all(w.dtype == "float32" for w in model.weights)


def test_a_bfloat16_training_run_learns_and_records_its_precision(tmp_path):
    out = tmp_path / "run"
    train_main(["--model", "capsule", "--subset", "--epochs", "3", "--out", str(out),
                "--verbose", "0", "--precision", "mixed_bfloat16"])
    record = json.loads((out / "record.json").read_text())
    assert record["precision"] == "mixed_bfloat16" and record["precision_reason"].startswith("requested")
    assert record["cpu"]
    loss = record["history"]["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]
    assert record["metrics"]["test_accuracy"] > 0.4      # 3 epochs on 2,000 images; chance is 0.1
    assert keras.config.dtype_policy().name == "float32"
    assert set(PRECISIONS) == {"auto", "float32", "mixed_bfloat16"}


def test_retraining_setting_names_the_precision_and_the_recorded_time():
    from capsule_lesson.reports import expected_training_minutes, retraining_setting

    policy = resolve_precision("auto")[0]
    for model in ("cnn", "capsule", "capsule_decoder"):
        precision, note = retraining_setting(model)
        assert precision == "auto" and note.startswith(f"training {model} in {policy} (auto: ")
    # the shipped CPU records: float32 CNN (the shipped seed-0 model) and the bfloat16 parity runs
    assert 10 < expected_training_minutes("cnn", "float32") < 120
    assert 1 < expected_training_minutes("capsule", "mixed_bfloat16") < 15
    assert expected_training_minutes("cnn", "float16") is None


def test_parity_table_is_the_readme_one_and_compares_three_seeds_each():
    from pathlib import Path

    from capsule_lesson.reports import parity_report

    table = parity_report()
    rows = [line for line in table.splitlines() if line.startswith("| cnn") or line.startswith("| capsule")]
    assert len(rows) == 10                                  # two models x five metrics
    assert all("(3) | " in row for row in rows), rows       # three seeds on both sides
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert table in readme, "README's parity table is stale: paste `python -m capsule_lesson.experiments parity`"


def test_a_bfloat16_plan_has_its_own_job_names_and_passes_the_precision():
    from capsule_lesson.experiments import job_command, plan

    float_jobs, fast_jobs = plan("article"), plan("article", "mixed_bfloat16")
    assert len(float_jobs) == len(fast_jobs)
    assert not {j["name"] for j in float_jobs} & {j["name"] for j in fast_jobs}
    command = job_command(fast_jobs[1], "runs")
    assert command[command.index("--precision") + 1] == "mixed_bfloat16"
    assert "--precision" not in job_command(float_jobs[1], "runs")
