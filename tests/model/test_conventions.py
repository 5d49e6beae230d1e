"""BlackBox reads every common output convention and returns correct probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import conv_image, linear, linear_classifier_ml, save, softmax

from auditor.errors import ConventionError
from auditor.model.blackbox import BlackBox, OpenOptions

CPU = OpenOptions(device="cpu")
RNG = np.random.default_rng(0)
W = RNG.normal(size=(5, 3))
B = RNG.normal(size=3)
X = RNG.normal(size=(9, 5)).astype(np.float32)
EXPECTED = softmax(X.astype(np.float64) @ W + B)


def open_model(proto, tmp_path, options=CPU, name="m.onnx") -> BlackBox:
    return BlackBox.open(save(proto, tmp_path / name), options)


@pytest.mark.parametrize(
    ("head", "convention"),
    [("logits", "logits"), ("softmax", "probabilities"), ("logsoftmax", "log_probabilities")],
)
@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-6), (np.float16, 2e-3), (np.float64, 1e-6)])
def test_dense_heads_and_input_dtypes(tmp_path, head, convention, dtype, tol):
    bb = open_model(linear(W, B, head=head, dtype=dtype), tmp_path)
    assert bb.signature.convention == convention
    assert bb.signature.input.dtype == np.dtype(dtype).name
    probs = bb.predict(X)
    assert probs.dtype == np.float32 and probs.shape == (9, 3)
    np.testing.assert_allclose(probs, EXPECTED, atol=tol)
    assert bb.queries == 9 and bb.calls == 1


def test_fixed_batch_one_runs_row_by_row(tmp_path):
    bb = open_model(linear(W, B, batch=1), tmp_path)
    assert bb.signature.input.batch == 1 and bb.batch_size == 1
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)
    assert bb.calls == len(X)


def test_fixed_batch_larger_than_rows_is_padded(tmp_path):
    bb = open_model(linear(W, B, batch=4), tmp_path)
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)
    assert bb.calls == 3 and bb.queries == 9


@pytest.mark.parametrize(
    ("head", "convention"), [("logits", "binary_logit"), ("sigmoid", "binary_probability")]
)
def test_binary_single_score(tmp_path, head, convention):
    w1, b1 = W[:, :1], B[:1]
    bb = open_model(linear(w1, b1, head=head), tmp_path)
    assert bb.signature.convention == convention and bb.n_classes == 2
    p1 = 1 / (1 + np.exp(-(X @ w1 + b1)))[:, 0]
    probs = bb.predict(X)
    np.testing.assert_allclose(probs[:, 1], p1, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_label_and_probabilities(tmp_path):
    bb = open_model(linear_classifier_ml(W, B, zipmap=False), tmp_path)
    assert bb.signature.convention == "label+probabilities"
    assert bb.signature.label_output == "output_label"
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)


def test_zipmap_int_keys(tmp_path):
    bb = open_model(linear_classifier_ml(W, B, zipmap=True), tmp_path)
    assert bb.signature.convention == "zipmap"
    assert bb.class_names == ("0", "1", "2")
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)
    assert bb.calls == 1  # scores read as one tensor, no per-row dict handling


def test_zipmap_string_keys_are_class_names(tmp_path):
    bb = open_model(linear_classifier_ml(W, B, zipmap=True, string_labels=("cat", "dog", "eel")), tmp_path)
    assert bb.class_names == ("cat", "dog", "eel")
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)


def test_several_outputs_pick_by_name_and_override(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    proto = linear(W, B, head="softmax", output_name="probabilities")
    proto.graph.node.append(helper.make_node("Relu", ["xw"], ["embedding"]))
    proto.graph.output.insert(0, helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 3]))
    onnx.checker.check_model(proto)
    bb = open_model(proto, tmp_path)
    assert bb.signature.score_output == "probabilities"
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)
    forced = open_model(
        proto, tmp_path, OpenOptions(device="cpu", output="embedding", scores="logits"), "m2.onnx"
    )
    assert forced.signature.score_output == "embedding" and forced.signature.convention == "logits"


def test_ambiguous_outputs_name_the_flag(tmp_path):
    from onnx import TensorProto, helper

    proto = linear(W, B, output_name="a")
    proto.graph.node.append(helper.make_node("Neg", ["z"], ["b"]))
    proto.graph.output.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3]))
    with pytest.raises(ConventionError, match="--output"):
        open_model(proto, tmp_path)


@pytest.mark.parametrize("nhwc", [False, True])
def test_image_layouts(tmp_path, nhwc):
    bb = open_model(conv_image((3, 6, 6), nhwc=nhwc), tmp_path)
    assert bb.layout == ("NHWC" if nhwc else "NCHW")
    images = np.random.default_rng(1).uniform(size=(5, 3, 6, 6)).astype(np.float32)
    probs = bb.predict(images if not nhwc else images.transpose(0, 2, 3, 1))
    if nhwc:  # NCHW rows are transposed to the model's NHWC layout automatically
        np.testing.assert_allclose(bb.predict(images), probs, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_nonfinite_rows_are_flagged(tmp_path):
    bb = open_model(linear(W, B), tmp_path)
    bad = X.copy()
    bad[2, 0] = np.nan
    probs = bb.predict(bad)
    assert np.isnan(probs[2]).all() and np.isfinite(np.delete(probs, 2, axis=0)).all()
    assert bb.nonfinite == 1


def test_class_names_from_metadata(tmp_path):
    proto = linear(W, B, metadata={"names": "{0: 'ant', 1: 'bee', 2: 'cow'}"})
    assert open_model(proto, tmp_path).class_names == ("ant", "bee", "cow")


def test_wrong_row_shape_is_a_clear_error(tmp_path):
    from auditor.errors import DataError

    bb = open_model(linear(W, B), tmp_path)
    with pytest.raises(DataError, match="do not fit"):
        bb.predict(np.zeros((2, 7)))


def test_digits_sample_is_accurate(digits_dir):
    data = np.load(digits_dir / "samples.npz")
    bb = BlackBox.open(digits_dir / "classifier.onnx", CPU)
    assert bb.signature.convention == "logits" and bb.layout == "NCHW" and bb.n_classes == 10
    assert (bb.predict_labels(data["X"]) == data["y"]).mean() >= 0.97


def test_tabular_sample_zipmap(tabular_dir):
    data = np.load(tabular_dir / "samples.npz")
    bb = BlackBox.open(tabular_dir / "classifier.onnx", CPU)
    assert bb.signature.convention == "zipmap" and bb.n_classes == 2
    assert (bb.predict_labels(data["X"]) == data["y"]).mean() >= 0.9


def test_fixed_batch_one_without_batch_axis_in_output(tmp_path):
    """Some exporters squeeze the batch axis away: (1, d) -> (K,) logits."""
    from onnx import TensorProto, helper

    proto = linear(W, B, batch=1, output_name="z_full")
    proto.graph.node.append(helper.make_node("Flatten", ["z_full"], ["flat"], axis=0))
    proto.graph.node.append(helper.make_node("Squeeze", ["flat", "axes"], ["scores"]))
    proto.graph.initializer.append(helper.make_tensor("axes", TensorProto.INT64, [1], [0]))
    del proto.graph.output[:]
    proto.graph.output.append(helper.make_tensor_value_info("scores", TensorProto.FLOAT, [3]))
    bb = open_model(proto, tmp_path)
    assert bb.n_classes == 3 and bb.signature.convention == "logits"
    np.testing.assert_allclose(bb.predict(X), EXPECTED, atol=1e-6)


def test_label_only_model_is_a_hard_label_black_box(tmp_path):
    proto = linear_classifier_ml(W, B, zipmap=False, string_labels=("cat", "dog", "eel"))
    del proto.graph.output[1:]  # keep only the label output
    bb = open_model(proto, tmp_path)
    assert bb.signature.convention == "label_only" and bb.signature.hard_label
    assert bb.class_names == ("cat", "dog", "eel")
    probs = bb.predict(X)
    assert set(np.unique(probs)) <= {0.0, 1.0} and (probs.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(probs.argmax(axis=1), EXPECTED.argmax(axis=1))


def test_sigmoid_over_several_classes_is_normalised(tmp_path):
    bb = open_model(linear(W, B, head="sigmoid"), tmp_path)
    assert bb.signature.convention == "multilabel_sigmoid"
    s = 1 / (1 + np.exp(-(X.astype(np.float64) @ W + B)))
    np.testing.assert_allclose(bb.predict(X), s / s.sum(axis=1, keepdims=True), atol=1e-6)


def test_unit_range_scores_that_do_not_sum_to_one_need_a_flag(tmp_path):
    bias = np.array([0.2, 0.3, 0.1])
    proto = linear(np.zeros_like(W), bias, output_name="raw")  # constant scores in [0, 1], sum 0.6
    with pytest.raises(ConventionError, match="--scores"):
        open_model(proto, tmp_path)
    forced = open_model(proto, tmp_path, OpenOptions(device="cpu", scores="logits"), "m2.onnx")
    np.testing.assert_allclose(forced.predict(X[:2]), softmax(np.tile(bias, (2, 1))), atol=1e-6)


def test_one_input_per_column(tmp_path):
    """skl2onnx DataFrame pipelines take one (N, 1) input per column, possibly of different dtypes."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Cast", ["b"], ["b32"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["a", "b32"], ["x"], axis=1),
        helper.make_node("MatMul", ["x", "W"], ["scores"]),
    ]
    w = W[:2]
    proto = linear(w, B)  # the builder's opset and IR version; its graph is replaced below
    graph = helper.make_graph(
        nodes,
        "columns",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("b", TensorProto.DOUBLE, ["N", 1]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w.astype(np.float32), "W")],
    )
    proto.graph.CopyFrom(graph)
    bb = open_model(proto, tmp_path)
    assert bb.layout == "columns" and bb.input_shape == (2,)
    rows = X[:, :2]
    np.testing.assert_allclose(bb.predict(rows), softmax(rows.astype(np.float64) @ w), atol=1e-6)


def test_dynamic_sample_dims_are_settled_by_the_data_shape(tmp_path):
    proto = conv_image((1, 6, 6))
    for dim in proto.graph.input[0].type.tensor_type.shape.dim[1:]:
        dim.ClearField("dim_value")
        dim.dim_param = "D"
    with pytest.raises(ConventionError, match="--input-shape"):
        open_model(proto, tmp_path)
    bb = open_model(proto, tmp_path, OpenOptions(device="cpu", shape_hint=(1, 6, 6)), "m2.onnx")
    assert bb.input_shape == (1, 6, 6) and bb.layout == "NCHW"
    assert bb.predict(np.zeros((2, 1, 6, 6))).shape == (2, 3)


@pytest.mark.parametrize("layout", ["columns", "NCWH"])
def test_a_declared_layout_must_be_one_a_single_tensor_can_have(tmp_path, layout):
    path = save(conv_image((1, 6, 6), 3), tmp_path / "cnn.onnx")
    with pytest.raises(ConventionError, match=r"use one of NCHW, NHWC, HW, flat, tensor$"):
        BlackBox.open(path, OpenOptions(device="cpu", layout=layout))
    assert BlackBox.open(path, OpenOptions(device="cpu", layout="NHWC")).layout == "NHWC"
