"""The measurements of notebook 13 (the article's open questions): trial and error against gradients, pooling
against a stride-2 convolution, the quick two-digit records, forward against backward time."""

import json
import pathlib

import keras
import numpy as np
import pytest

from capsule_lesson import open_questions as oq, timing, trial_and_error as trial

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "benchmarks" / "results" / "20261126-180316.json"


# ---- 1. trial and error against gradients --------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 3, 20])
def test_least_squares_problem_knows_its_minimum_and_step(d):
    p = trial.least_squares_problem(d, seed=d)
    assert p.x.shape == (4 * d if d > 1 else 4, d)
    value, grad = trial.gradient(p, p.theta_star)
    assert value == pytest.approx(p.loss_star) and np.abs(grad).max() < 1e-10
    assert p.lipschitz == pytest.approx(np.linalg.eigvalsh(p.x.T @ p.x / len(p.x)).max())
    for theta in np.random.default_rng(0).normal(size=(5, d)):     # nothing is lower than the minimum
        assert trial.loss(p, theta) >= p.loss_star


def test_least_squares_problem_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_params"):
        trial.least_squares_problem(0)
    with pytest.raises(ValueError, match="n_params"):
        trial.least_squares_problem(2.5)
    with pytest.raises(ValueError, match="samples_per_param"):
        trial.least_squares_problem(3, samples_per_param=0)


def test_gradient_is_the_derivative_of_the_loss():
    p = trial.least_squares_problem(6, seed=1)
    theta = np.random.default_rng(2).normal(size=6)
    _, grad = trial.gradient(p, theta)
    eps = 1e-6
    numeric = [(trial.loss(p, theta + eps * e) - trial.loss(p, theta - eps * e)) / (2 * eps) for e in np.eye(6)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_parabola_step_finds_a_quadratics_minimum_and_refuses_a_maximum():
    f = lambda t: 3.0 * (t - 0.7) ** 2 + 1.0      # noqa: E731
    assert trial.parabola_step(f(-0.5), f(0.0), f(0.5), 0.5) == pytest.approx(0.7)
    assert trial.parabola_step(1.0, 2.0, 1.0, 0.5) == 0.0              # curving down: stay


@pytest.mark.parametrize("method", trial.METHODS)
def test_every_method_reaches_the_target_and_counts_its_passes(method):
    p = trial.least_squares_problem(8, seed=0)
    trace = trial.fit(method, p, tolerance=1e-2, seed=0)
    assert trace.reached is not None
    assert trace.excess[0] == pytest.approx(trial.loss(p, np.zeros(8)) - p.loss_star)
    first = np.flatnonzero(trace.excess <= 1e-2 * trace.excess[0])[0]
    assert trace.reached == trace.passes[first]
    assert np.all(np.diff(trace.passes) > 0)
    if method == "gradient":                      # a forward pass per step, a backward pass between steps
        np.testing.assert_array_equal(trace.passes, 1 + 2 * np.arange(len(trace.passes)))
    else:                                         # the trial methods only ever keep a lower loss
        assert np.all(np.diff(trace.excess) <= 1e-15)
    if method == "trial":
        assert set(np.diff(trace.passes)) == {3}  # two tries and the interpolated point per parameter


def test_keep_path_gives_the_parameters_of_each_entry():
    p = trial.least_squares_problem(2, seed=0)
    for method in trial.METHODS:
        trace = trial.fit(method, p, tolerance=1e-3, keep_path=True)
        assert trace.path.shape == (len(trace.passes), 2)
        np.testing.assert_allclose([trial.loss(p, t) - p.loss_star for t in trace.path], trace.excess, atol=1e-12)
        assert trial.fit(method, p).path is None


def test_budget_running_out_is_reported_not_hidden():
    p = trial.least_squares_problem(32, seed=0)
    for method in trial.METHODS:
        trace = trial.fit(method, p, tolerance=1e-8, max_passes=20)
        assert trace.reached is None and trace.passes[-1] <= 22


def test_gradients_cost_does_not_grow_with_the_parameters_trial_and_errors_does():
    costs = trial.search_costs(sizes=(4, 8, 16, 32, 64), seeds=(0, 1))
    assert costs["sizes"].tolist() == [4, 8, 16, 32, 64]
    assert all(np.isfinite(costs[m]).all() for m in trial.METHODS)
    assert abs(trial.growth_exponent(costs["sizes"], costs["gradient"])) < 0.3
    for method in ("trial", "random"):
        assert trial.growth_exponent(costs["sizes"], costs[method]) > 0.7
        assert np.all(costs[method][-1] > 5 * costs["gradient"][-1])


def test_growth_exponent_reads_a_power_law_and_skips_missing_sizes():
    sizes = np.array([2, 4, 8, 16])
    assert trial.growth_exponent(sizes, 5.0 * sizes ** 1.5) == pytest.approx(1.5)
    costs = np.stack([3.0 * sizes, 3.0 * sizes], axis=1)
    costs[2] = np.nan
    assert trial.growth_exponent(sizes, costs) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two sizes"):
        trial.growth_exponent(sizes, [np.nan, np.nan, np.nan, 1.0])


# ---- 2. pooling against a stride-2 convolution ---------------------------------------------------------------

def test_conv2d_and_avg_pool_compute_what_keras_layers_compute():
    rng = np.random.default_rng(0)
    image, kernel = rng.random((13, 11)).astype("float32"), rng.normal(size=(3, 3)).astype("float32")
    for stride in (1, 2):
        conv = keras.layers.Conv2D(1, 3, strides=stride, use_bias=False)
        conv.build((None, 13, 11, 1))
        conv.set_weights([kernel[:, :, None, None]])
        expected = keras.ops.convert_to_numpy(conv(image[None, :, :, None]))[0, :, :, 0]
        np.testing.assert_allclose(oq.conv2d(image, kernel, stride), expected, rtol=1e-5, atol=1e-5)
    pooled = keras.ops.convert_to_numpy(keras.layers.AveragePooling2D(2)(image[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(oq.avg_pool(image), pooled, rtol=1e-6)


@pytest.mark.parametrize("shape", [(12, 12), (13, 10), (28, 28), (56, 28)])
def test_pooling_after_a_convolution_is_one_strided_convolution(shape):
    rng = np.random.default_rng(sum(shape))
    image, kernel = rng.random(shape), rng.normal(size=(3, 3))
    kernel -= kernel.mean()                        # outputs of both signs, so the ReLU below has work to do
    big = oq.pooled_kernel(kernel)
    assert big.shape == (4, 4) and big.sum() == pytest.approx(kernel.sum())
    np.testing.assert_allclose(oq.avg_pool(oq.conv2d(image, kernel)), oq.conv2d(image, big, stride=2), atol=1e-12)
    relu = lambda a: np.maximum(a, 0)              # noqa: E731  with the ReLU in between it is no identity
    assert np.abs(oq.avg_pool(relu(oq.conv2d(image, kernel))) - relu(oq.conv2d(image, big, stride=2))).max() > 1e-3


def test_pooling_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        oq.conv2d(np.zeros((2, 5, 5)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="larger than image"):
        oq.conv2d(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="stride"):
        oq.conv2d(np.zeros((5, 5)), np.zeros((3, 3)), stride=0)
    with pytest.raises(ValueError, match="2-D"):
        oq.avg_pool(np.zeros(5))
    with pytest.raises(ValueError, match="2-D"):
        oq.pooled_kernel(np.zeros(3))


def test_trunk_multiply_adds_count_the_convolutions():
    macs, shape = oq.trunk_multiply_adds("avgpool")
    expected = 26 * 26 * 9 * 64 + 24 * 24 * 9 * 64 * 64 + 10 * 10 * 9 * 64 * 128 + 8 * 8 * 9 * 128 * 128
    assert (macs, shape) == (expected, (8, 8, 128))
    stride, stride_shape = oq.trunk_multiply_adds("stride")
    none, none_shape = oq.trunk_multiply_adds("none")
    assert stride_shape == shape and none_shape == (20, 20, 128)
    assert stride < macs < none
    assert oq.trunk_multiply_adds("avgpool", (56, 28))[1] == (22, 8, 128)


# ---- 2 and 4. quick two-digit runs ---------------------------------------------------------------------------

def test_multi_hot_and_pair_training_set():
    np.testing.assert_array_equal(oq.multi_hot([[0, 3], [2, 9]], 10).nonzero(), ([0, 0, 1, 1], [0, 3, 2, 9]))
    with pytest.raises(ValueError):
        oq.multi_hot([[0, 10]], 10)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8), np.arange(40) % 10
    images, targets, pairs = oq.pair_training_set(x, y, seed=1, layout="stacked")
    assert images.shape[1:] == (56, 28) and len(images) == len(targets) == len(pairs) <= 40
    assert np.all(targets.sum(axis=1) == 2)
    np.testing.assert_array_equal(np.sort(np.argsort(targets, axis=1)[:, -2:], axis=1), pairs)


def test_record_names():
    assert oq.record_name(dict(model="cnn", downsample="stride")) == "cnn_stride_seed0"
    assert oq.record_name(dict(model="cnn", train_on="pairs", seed=2)) == "cnn_avgpool_pairs-stacked_seed2"
    assert len({oq.record_name({**oq.QUICK, **spec}) for spec in oq.PLAN}) == len(oq.PLAN)


def test_shipped_records_are_the_plan_trained_as_stated():
    records = oq.load_open_records()
    plan = {oq.record_name({**oq.QUICK, **spec}) for spec in oq.PLAN}
    assert set(records) <= plan and plan - set(records) == {"capsule_none_seed0"}   # notebook 13 says it is not run
    for name, r in records.items():
        assert (r["dataset"], r["epochs"], r["seed"], r["test_images"]) == ("mnist", 2, 0, 5000), name
        assert r["train_digits"] == 20_000 and not r.get("subset", False)
        assert r["parameters"] == {"cnn": 276_810, "capsule": 279_488}[r["model"]]
        assert len(r["history"]["loss"]) == 2
        for layout, pairs in (("stacked", r["metrics"]["two_digit"]["stacked"]), ("side", r["metrics"]["two_digit"]["side"])):
            assert pairs["pairs"] > 4000 and 0 <= pairs["exact_set"] <= pairs["top2_confident"] <= pairs["top2"] <= 1
        row = oq.flat_row(r)
        assert row["stacked_A"] == r["metrics"]["two_digit"]["stacked"]["top2"]
    pairs_run = records["cnn_avgpool_pairs-stacked_seed0"]
    assert pairs_run["train_on"] == "pairs" and 17_000 < pairs_run["train_images"] < 20_000


def test_train_variant_writes_a_record(tmp_path):
    record = oq.train_variant("capsule", downsample="stride", subset=True, train_limit=128, epochs=1,
                              test_limit=64, precision="float32", out=tmp_path)
    saved = json.loads((tmp_path / "capsule_stride_seed0.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert record["subset"] is True and record["train_images"] == 128 and record["test_images"] == 64
    assert record["parameters"] == 279_488 and set(record["metrics"]["two_digit"]) == {"side", "stacked"}
    with pytest.raises(ValueError, match="unknown model"):
        oq.train_variant("rnn", subset=True)
    with pytest.raises(ValueError, match="train_on"):
        oq.train_variant("cnn", train_on="triples", subset=True)


# ---- 3. forward against forward + backward -------------------------------------------------------------------

def test_interleaved_medians_time_every_callable():
    calls = []
    medians = timing.interleaved_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                     warmup=1, repeats=3)
    assert set(medians) == {"a", "b"} and calls.count("a") == calls.count("b") == 4
    assert all(m >= 0 for m in medians.values())


def test_layer_and_model_timings_have_every_entry():
    layer = timing.layer_timings(routings=(1, 2), batch=4, n_in=8, input_dim=16, repeats=1)
    assert set(layer) == {1, 2} and all(set(v) == {"forward", "forward+backward"} for v in layer.values())
    assert all(t > 0 for v in layer.values() for t in v.values())
    models = timing.model_timings(routings=(1,), batch=2, repeats=1)
    assert set(models) == {"cnn", "capsule, r = 1"} and all(t > 0 for v in models.values() for t in v.values())


def test_benchmark_layer_times_read_the_committed_run():
    bench = timing.benchmark_layer_times(BENCHMARK)
    raw = json.loads(BENCHMARK.read_text())["results"]["tensorflow"]
    assert bench["forward"] == raw["layer"]["time"]["capsule_lesson.Capsule"]["forward"]["median_ms"]
    assert bench["shape"]["routings"] == 3 and bench["shape"]["n_in"] == 64
    assert 1 < bench["forward+backward"] / bench["forward"] < 10
    assert sorted(bench["routings"]) == [1, 2, 3, 4, 6, 8, 10]
    assert bench["model_step_ratio"] == pytest.approx(raw["models"]["ratio_to_cnn"]["capsule_model"])
