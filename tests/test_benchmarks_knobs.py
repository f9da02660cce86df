"""The knobs benchmark (threads, channels order, input pipeline): its models compute what the course's do, and
its table shows every measured row."""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # the benchmarks/ package
from benchmarks import knobs, suite  # noqa: E402


@pytest.mark.parametrize("name", ["cnn", "capsule"])
def test_channels_first_model_is_the_same_function_as_channels_last(name):
    keras.utils.set_random_seed(0)
    last, first = knobs.model_in("channels_last", name), knobs.model_in("channels_first", name)
    course = {"cnn": knobs.cnn_baseline, "capsule": knobs.capsule_model}[name](compile=False)
    assert last.count_params() == first.count_params() == course.count_params()
    first.set_weights(last.get_weights())        # a kernel's shape does not depend on the channels order
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first(np.moveaxis(x, -1, 1))),
                               keras.ops.convert_to_numpy(last(x)), atol=1e-5)


def test_knobs_table_lists_every_setting_and_failures():
    step = {"median_ms": 50.0, "cpu_median_ms": 90.0}
    result = {"threads": {"intra 0, inter 0|capsule, mixed_bfloat16": {"step": step, "ratio_to_default": 1.0},
                          "intra 1, inter 1|capsule, mixed_bfloat16": {"step": step, "ratio_to_default": 1.8}},
              "channels": {"channels_last, cnn, float32": {"step": step, "ratio_to_channels_last": 1.0},
                           "channels_first, cnn, float32": {"error": "InvalidArgumentError: NHWC only"}},
              "pipeline": {"fit, NumPy arrays (as training)": {"step": step, "ratio_to_train_on_batch": 1.05,
                                                               "whole_call_per_step": step}}}
    per_task = {task: {task: rows} for task, rows in result.items()}
    table = suite.table_knobs({"tensorflow": per_task, "jax": {"channels": {"error": ["boom"]}},
                               "torch": {"knobs": {"error": ["boom"]}}})   # a run from before the split
    lines = table.splitlines()
    assert len(lines) == 2 + 2 + 2 + 1 + 2
    assert "| tensorflow | threads | intra 1, inter 1 | capsule, mixed_bfloat16 | 50.0 / 90.0 | 1.80" in table
    assert "| channels_first | cnn, float32 | fails | InvalidArgumentError: NHWC only |" in table
    assert "| 50.0 steady (whole call: 50.0 / 90.0) | 1.05" in table
    assert "| jax | channels: failed |" in table and "| torch | knobs: failed |" in table
    assert suite.table_knobs({"tensorflow": {"knobs": result}}) == suite.table_knobs({"tensorflow": per_task})


def test_step_clock_takes_the_steady_state_without_the_set_up():
    clock = knobs.StepClock()
    clock.ends = [0.0, 5.0, 5.1, 5.3, 5.4]        # call start, a slow first step (set-up), then 0.1 / 0.2 / 0.1
    assert clock.steady_step() == pytest.approx(0.1)
