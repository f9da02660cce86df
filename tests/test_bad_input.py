"""Bad input on the public API: each case gets an error that names the problem, or the result docs/errors.md gives.

Every case id below has a row in docs/errors.md (checked at the end), so the list of what was tried and what it
gives cannot drift from what the code does. Hypothesis adds random NaN/inf positions, random text and random
finite values on top of the hand-picked cases.
"""

import json
import re
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import capsule_lesson as cl

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.backend   # CI runs these under TensorFlow and again under JAX
NAN = float("nan")


def fc_layer_built_for_5():
    layer = cl.Capsule(3, 4, share_weights=False)
    layer(np.ones((2, 5, 8), "float32"))
    return layer


# (id, call, error class, message pattern). The id is what docs/errors.md lists.
ERRORS = [
    ("squash-text", lambda: cl.squash("abc"), ValueError, "squash input must be a number"),
    ("squash-nan", lambda: cl.squash([NAN, 1.0]), ValueError, "squash input contains NaN or infinity"),
    ("squash-inf", lambda: cl.squash([np.inf, 1.0]), ValueError, "contains NaN or infinity"),
    ("squash-overflow", lambda: cl.squash([1e200, 1.0]), FloatingPointError, "overflows float64: rescale"),
    ("squash-unknown-variant", lambda: cl.squash([1.0], variant="cubic"), ValueError, "unknown squash variant 'cubic'"),
    ("squash-k-on-tanh", lambda: cl.squash([1.0], variant="tanh", k=2), ValueError, "has no constant k"),
    ("squash-bad-axis", lambda: cl.squash(np.ones(3), axis=2), np.exceptions.AxisError, "axis 2 is out of bounds"),
    ("fixed-point-text", lambda: cl.fixed_point_inverse("x", 3), ValueError, "x must be a number"),
    ("fixed-point-nan", lambda: cl.fixed_point_inverse(NAN, 3), ValueError, "x contains NaN"),
    ("fixed-point-iterations", lambda: cl.fixed_point_inverse(1.0, 2.5), ValueError, "non-negative integer, got 2.5"),
    ("bisection-inf", lambda: cl.inverse_by_bisection(np.inf), ValueError, "x contains NaN or infinity"),
    ("aggregate-rank", lambda: cl.softmax_aggregate(np.ones(3), 2), ValueError, r"points must have shape \(n, d\)"),
    ("aggregate-empty", lambda: cl.softmax_aggregate(np.ones((0, 2)), 2), ValueError, "n >= 1, got shape"),
    ("aggregate-nan", lambda: cl.softmax_aggregate([[NAN, 1.0], [1.0, 2.0]], 2), ValueError, "points contains NaN"),
    ("aggregate-nan-scale", lambda: cl.softmax_aggregate([[0.0, 1.0]], 2, scale=NAN), ValueError, "scale contains NaN"),
    ("weights-shape", lambda: cl.aggregation_weights(np.ones(3), np.ones((4, 2))), ValueError,
     r"x must have shape \(2,\)"),
    ("routing-rank", lambda: cl.dynamic_routing(np.ones((3, 4))), ValueError, "got rank 2"),
    ("routing-text", lambda: cl.dynamic_routing("abc"), ValueError, "u_hat must be a number"),
    ("routing-no-inputs", lambda: cl.dynamic_routing(np.ones((0, 3, 4))), ValueError, "at least one input capsule"),
    ("routing-nan", lambda: cl.dynamic_routing(np.full((2, 3, 4), NAN)), ValueError, "u_hat contains NaN"),
    ("routing-overflow", lambda: cl.dynamic_routing(np.full((2, 3, 4), 1e200)), FloatingPointError, "rescale"),
    ("routing-zero-routings", lambda: cl.dynamic_routing(np.ones((2, 3, 4)), routings=0), ValueError,
     "routings must be an integer >= 1"),
    ("routing-bool-routings", lambda: cl.dynamic_routing(np.ones((2, 3, 4)), routings=True), ValueError,
     "routings must be an integer"),
    ("routing-unknown-update", lambda: cl.dynamic_routing(np.ones((2, 3, 4)), update="sideways"), ValueError,
     "unknown routing update 'sideways'"),
    ("routing-unknown-inner", lambda: cl.dynamic_routing(np.ones((2, 3, 4)), inner_squash="cube"), ValueError,
     "unknown inner_squash 'cube'"),
    ("entropy-negative", lambda: cl.coupling_entropy([[-0.5, 1.5]]), ValueError, "must be probabilities"),
    ("capsule-count-text", lambda: cl.Capsule("10", 16), ValueError, "num_capsule must be a positive integer"),
    ("capsule-zero-dim", lambda: cl.Capsule(10, 0), ValueError, "dim_capsule must be a positive integer"),
    ("capsule-zero-routings", lambda: cl.Capsule(10, 16, routings=0), ValueError, "routings must be"),
    ("capsule-unknown-squash", lambda: cl.Capsule(10, 16, squash="cubic"), ValueError, "unknown squash variant"),
    ("capsule-unknown-routing", lambda: cl.Capsule(10, 16, routing="spectral"), ValueError, "unknown routing 'spectral'"),
    ("capsule-routing-setting-mismatch", lambda: cl.Capsule(10, 16, routing="em", update="accumulate"), ValueError,
     "settings of dynamic routing, not of em routing"),
    ("capsule-temperature-not-kmeans", lambda: cl.Capsule(10, 16, temperature=0.5), ValueError,
     "temperature is a setting of kmeans routing"),
    ("capsule-zero-temperature", lambda: cl.Capsule(10, 16, routing="kmeans", temperature=0), ValueError,
     "temperature must be a finite number > 0"),
    ("route-unknown-routing", lambda: cl.route(np.ones((3, 2, 2)), "spectral"), ValueError, "unknown routing"),
    ("route-option-of-another-routing", lambda: cl.route(np.ones((3, 2, 2)), "kmeans", update="accumulate"),
     ValueError, "kmeans routing takes no option update"),
    ("em-zero-prior", lambda: cl.em_routing(np.ones((3, 2, 2)), variance_prior=0), ValueError,
     "variance_prior must be a finite number > 0"),
    ("blank-unknown-layout", lambda: cl.one_digit_blank_test_set(np.zeros((2, 4, 4)), [0, 1], layout="diagonal"),
     ValueError, "unknown layout 'diagonal'"),
    ("single-count-mismatch", lambda: cl.single_accuracies(np.ones((3, 10)), [0, 1]), ValueError,
     "scores must be \\(m, classes\\) and labels"),
    ("single-label-out-of-range", lambda: cl.single_accuracies(np.ones((1, 10)), [12]), ValueError, "labels"),
    ("capsule-rank-2", lambda: cl.Capsule(10, 16)(np.ones((2, 8), "float32")), ValueError,
     r"expects input of shape \(batch, n_in, input_dim\), got rank 2"),
    ("capsule-rank-4", lambda: cl.Capsule(10, 16)(np.ones((2, 3, 4, 8), "float32")), ValueError, "got rank 4"),
    ("capsule-no-inputs", lambda: cl.Capsule(10, 16)(np.ones((2, 0, 8), "float32")), ValueError,
     "at least one input capsule"),
    ("capsule-text-input", lambda: cl.Capsule(10, 16)("abc"), ValueError, "Only input tensors may be passed"),
    ("capsule-other-length", lambda: (lambda layer: (layer(np.ones((2, 5, 8), "float32")),
                                                      layer(np.ones((2, 5, 9), "float32"))))(cl.Capsule(3, 4)),
     ValueError, "expected axis -1 of input shape to have value 8"),
    ("capsule-fc-other-count", lambda: fc_layer_built_for_5()(np.ones((2, 6, 8), "float32")), ValueError,
     "expected axis 1 of input shape to have value 5"),
    ("capsule-fc-varying-count", lambda: cl.Capsule(3, 4, share_weights=False)(keras.Input((None, 8))), ValueError,
     "needs a fixed number of input capsules"),
    ("length-rank-1", lambda: cl.CapsuleLength()(np.ones(3, "float32")), ValueError, "expected min_ndim=2"),
    ("feature-map-rank-3", lambda: cl.FeatureMapToCapsules()(np.ones((2, 3, 4), "float32")), ValueError,
     "expected ndim=4"),
    ("margin-bad-margins", lambda: cl.MarginLoss(m_plus=0.1, m_minus=0.9), ValueError, "0 <= m_minus < m_plus <= 1"),
    ("margin-negative-lam", lambda: cl.MarginLoss(lam=-1), ValueError, "lam must be >= 0"),
    ("margin-class-count", lambda: cl.margin_loss()(np.ones((4, 10), "float32"), np.ones((4, 9), "float32")),
     ValueError, "y_true has 10 classes but y_pred has 9"),
    ("model-text-routings", lambda: cl.capsule_model(routings="3"), ValueError, "routings must be an integer"),
    ("model-rgb-images", lambda: cl.cnn_baseline().predict(np.ones((2, 28, 28, 3), "float32"), verbose=0),
     ValueError, "expected axis -1 of input shape to have value 1"),
    ("pairs-unknown-layout", lambda: cl.two_digit_test_set(np.zeros((4, 28, 28)), np.arange(4), layout="diagonal"),
     ValueError, "unknown layout 'diagonal'"),
    ("pairs-one-image", lambda: cl.two_digit_test_set(np.zeros((1, 28, 28)), [3]), ValueError,
     "at least two images, got 1"),
    ("pairs-fractional-labels", lambda: cl.two_digit_test_set(np.zeros((4, 28, 28)), [0.5, 1, 2, 3]), ValueError,
     "integer class labels"),
    ("pairs-nan-images", lambda: cl.two_digit_test_set(np.full((4, 28, 28), NAN), np.arange(4)), ValueError,
     "x contains NaN"),
    ("accuracy-count-mismatch", lambda: cl.pair_accuracies(np.ones((3, 10)), np.zeros((4, 2), int)), ValueError,
     "with the same m"),
    ("accuracy-nan-scores", lambda: cl.pair_accuracies(np.full((2, 10), NAN), [[0, 1], [2, 3]]), ValueError,
     "scores contains NaN"),
    ("accuracy-no-pairs", lambda: cl.pair_accuracies(np.ones((0, 10)), np.zeros((0, 2), int)), ValueError,
     "no pairs to score"),
    ("accuracy-class-out-of-range", lambda: cl.pair_accuracies(np.ones((1, 10)), [[3, 12]]), ValueError,
     r"pairs must lie in 0\.\.9"),
    ("accuracy-text-threshold", lambda: cl.pair_accuracies(np.eye(10)[:2], [[0, 1], [1, 2]], threshold="half"),
     ValueError, "threshold must be a number"),
    ("found-count-mismatch", lambda: cl.found_by_class(np.ones((3, 10)), np.zeros((4, 2), int)), ValueError,
     "with the same m"),
    ("data-missing-file", lambda: cl.load_mnist("no-such-folder/mnist.npz"), cl.DataFileError,
     "MNIST file not found"),
    ("pretrained-unknown", lambda: cl.load_pretrained("resnet"), ValueError, "no pretrained model 'resnet'"),
    ("decoder-views-of-cnn", lambda: cl.decoder_views(cl.cnn_baseline()), ValueError,
     "decoder_views needs a capsule_decoder_model"),
    ("sweep-bad-dim", lambda: cl.dimension_sweep(np.zeros(16), 20, [0.1]), ValueError, r"dim must be in 0\.\.15"),
    ("sweep-nan-pose", lambda: cl.dimension_sweep(np.full(16, NAN), 0, [0.1]), ValueError, "pose contains NaN"),
    ("within-class-mismatch", lambda: cl.within_class_stats(np.zeros((3, 10, 16)), np.zeros(4, int)), ValueError,
     r"labels must be \(N,\)"),
    ("within-class-label-range", lambda: cl.within_class_stats(np.zeros((3, 10, 16)), [0, 1, 10]), ValueError,
     r"labels must lie in 0\.\.9"),
    ("mask-wrong-width", lambda: cl.MaskCapsules()([np.zeros((2, 10, 16), "float32"), np.zeros((2, 9), "float32")]),
     ValueError, r"mask must have shape \(batch, 10\)"),
]


@pytest.mark.parametrize("case, call, error, pattern", ERRORS, ids=[case[0] for case in ERRORS])
def test_bad_input_raises_an_error_that_names_the_problem(case, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# Inputs with a documented, non-error result: (id, call, check of the result).
def finite(x):
    return np.isfinite(np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")).all()


DOCUMENTED = [
    ("squash-empty", lambda: cl.squash(np.ones((0, 3))), lambda r: r.shape == (0, 3)),
    ("squash-integers", lambda: cl.squash([3, 4]), lambda r: r.dtype == np.float64 and np.isclose(
        np.linalg.norm(r), 25 / 26)),   # hinton: 5^2 / (1 + 5^2)
    ("squash-zero-vector", lambda: cl.squash(np.zeros(4)), lambda r: (r == 0).all()),
    ("capsule-empty-batch", lambda: cl.Capsule(10, 16)(np.ones((0, 5, 8), "float32")),
     lambda r: tuple(r.shape) == (0, 10, 16)),
    ("capsule-integer-input", lambda: cl.Capsule(10, 16)(np.ones((2, 5, 8), "int32")),
     lambda r: tuple(r.shape) == (2, 10, 16) and finite(r)),
    ("capsule-nan-input", lambda: cl.Capsule(3, 4)(np.full((2, 5, 8), NAN, "float32")),
     lambda r: np.isnan(keras.ops.convert_to_numpy(r)).all()),
    ("margin-nan-scores", lambda: cl.margin_loss()(np.eye(10, dtype="float32")[:2], np.full((2, 10), NAN, "float32")),
     lambda r: np.isnan(keras.ops.convert_to_numpy(r)).all()),
    ("margin-label-out-of-range", lambda: cl.margin_loss()(np.array([12, 1]), np.full((2, 10), 0.5, "float32")),
     # the label-12 row counts as "no class present": 10 * lam * (0.5 - m-)^2; the batch mean is returned
     lambda r: np.isclose(keras.ops.convert_to_numpy(r), (10 * 0.25 * 0.16 + 0.16 + 9 * 0.25 * 0.16) / 2)),
    ("model-images-without-channel", lambda: cl.capsule_model().predict(np.zeros((2, 28, 28), "float32"), verbose=0),
     lambda r: r.shape == (2, 10)),
    ("pairs-all-one-digit", lambda: cl.two_digit_test_set(np.zeros((4, 28, 28)), [7, 7, 7, 7]),
     lambda r: len(r[1]) == 0),
]


@pytest.mark.parametrize("case, call, check", DOCUMENTED, ids=[case[0] for case in DOCUMENTED])
def test_documented_results(case, call, check):
    assert check(call())


def saved_capsule_model(path):
    inputs = keras.Input((5, 8))
    model = keras.Model(inputs, cl.CapsuleLength()(cl.Capsule(3, 4, name="caps")(inputs)))
    model.save(path)
    return path


def edited_copy(src, dst, edit):
    """A copy of a .keras file with the Capsule layer's config changed by ``edit``."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                edit(next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == "caps")["config"])
                data = json.dumps(config).encode()
            new.writestr(item, data)
    return dst


KERAS_FILES = [
    ("keras-file-unknown-setting", lambda c: c.update(orphan_bias=True), ValueError, r"unknown settings \[orphan_bias\]"),
    ("keras-file-missing-setting", lambda c: c.pop("num_capsule"), ValueError, r"missing settings \[num_capsule\]"),
    ("keras-file-bad-value", lambda c: c.update(update="sideways"), TypeError, "unknown routing update 'sideways'"),
    ("keras-file-other-weights", lambda c: c.update(dim_capsule=6), ValueError, r"variable.shape=\(3, 6, 8\)"),
]


@pytest.mark.parametrize("case, edit, error, pattern", KERAS_FILES, ids=[case[0] for case in KERAS_FILES])
def test_keras_files_from_another_layer_version(tmp_path, case, edit, error, pattern):
    original = saved_capsule_model(tmp_path / "model.keras")
    assert keras.models.load_model(original).count_params() == 3 * 4 * 8
    with pytest.raises(error, match=pattern):
        keras.models.load_model(edited_copy(original, tmp_path / "edited.keras", edit))


def test_truncated_keras_file(tmp_path):
    raw = saved_capsule_model(tmp_path / "model.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="File not found.*accessible `.keras` zip file"):   # Keras's own words
        keras.models.load_model(tmp_path / "cut.keras")


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.floats(-1e6, 1e6)), st.data())
def test_any_nan_or_inf_anywhere_is_named(array, data):
    position = data.draw(st.tuples(*[st.integers(0, n - 1) for n in array.shape]))
    array = array.copy()
    array[position] = data.draw(st.sampled_from([NAN, np.inf, -np.inf]))
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        cl.squash(array)
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        cl.fixed_point_inverse(array, 2)


@given(st.text(min_size=1, max_size=8))
def test_any_text_is_refused_by_name(text):
    for call, name in ((cl.squash, "squash input"), (lambda t: cl.dynamic_routing(t), "u_hat"),
                       (lambda t: cl.fixed_point_inverse(t, 1), "x")):
        with pytest.raises(ValueError, match=re.escape(name) + " must be a number"):
            call(text)


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 5)),
                  elements=st.floats(-1e3, 1e3)))
def test_finite_predictions_route_to_finite_capsules_of_length_below_one(u_hat):
    result = cl.dynamic_routing(u_hat, routings=3)
    assert np.isfinite(result.v).all() and np.isfinite(result.c_history).all()
    assert (np.linalg.norm(result.v, axis=-1) < 1).all()
    np.testing.assert_allclose(result.c_history.sum(-1), 1.0)


def test_docs_errors_lists_every_case():
    doc = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    ids = [c[0] for c in ERRORS] + [c[0] for c in DOCUMENTED] + [c[0] for c in KERAS_FILES] + ["keras-file-truncated"]
    missing = [case for case in ids if f"`{case}`" not in doc]
    assert not missing, f"docs/errors.md lacks rows for {missing}"
