"""Tiny models with known scores for the attribution tests: linear log-odds over images or rows, a tanh MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import linear, model, save

from auditor.model.blackbox import BlackBox, OpenOptions

BATCH = 32


def open_model(proto, path: Path, batch_size: int = BATCH, scores: str | None = None) -> BlackBox:
    """A CPU BlackBox with a fixed batch size and no row cache, so ONNX Runtime calls can be counted exactly."""
    options = OpenOptions(device="cpu", batch_size=batch_size, threads=1, cache=False, scores=scores)
    return BlackBox.open(save(proto, path), options)


def log_odds_linear(w: np.ndarray, b: float) -> np.ndarray:
    """Two-class logits (0, w.x + b) for rows: the log-odds of class 1 is exactly w.x + b."""
    return linear(np.stack([np.zeros(len(w)), w], axis=1), np.array([0.0, b]))


def log_odds_image(w: np.ndarray, b: float):
    """Images (N, *w.shape) -> logits (0, sum(w * x) + b): log-odds linear in every pixel."""
    d = int(w.size)
    weights = np.stack([np.zeros(d), w.reshape(-1)], axis=1).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logits"]),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *w.shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(np.array([0, b], np.float32), "B")],
    )


def tanh_mlp(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray):
    """Rows (N, d) -> logits (0, w2 . tanh(x W1 + b1)): the log-odds of class 1 has a known gradient."""
    h = len(b1)
    head = np.stack([np.zeros(h), w2], axis=1).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["a"]),
        helper.make_node("Add", ["a", "B1"], ["z"]),
        helper.make_node("Tanh", ["z"], ["t"]),
        helper.make_node("MatMul", ["t", "W2"], ["logits"]),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", w1.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [
            numpy_helper.from_array(w1.astype(np.float32), "W1"),
            numpy_helper.from_array(b1.astype(np.float32), "B1"),
            numpy_helper.from_array(head, "W2"),
        ],
    )


# Captum's test models (captum/testing/helpers/basic_models.py), the same weights, as ONNX graphs. Captum's
# models with several input tensors become one input whose rows (or channels) are those tensors.


def _tensor(name: str, value: np.ndarray):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _multilayer_nodes(src: str, out: str) -> tuple[list, list]:
    """BasicModel_MultiLayer: linear0 = identity, linear1 = ones(4, 3) with bias (-10, 1, 1, 1), ReLU,
    linear2 = ones(2, 4) with bias (-1, 1)."""
    nodes = [
        helper.make_node("MatMul", [src, "W0"], ["l0"]),
        helper.make_node("Add", ["l0", "B0"], ["lin0"]),
        helper.make_node("MatMul", ["lin0", "W1"], ["l1"]),
        helper.make_node("Add", ["l1", "B1"], ["lin1"]),
        helper.make_node("Relu", ["lin1"], ["relu"]),
        helper.make_node("MatMul", ["relu", "W2"], ["l2"]),
        helper.make_node("Add", ["l2", "B2"], [out]),
    ]
    weights = [
        _tensor("W0", np.eye(3)),
        _tensor("B0", np.zeros(3)),
        _tensor("W1", np.ones((4, 3)).T),
        _tensor("B1", [-10.0, 1.0, 1.0, 1.0]),
        _tensor("W2", np.ones((2, 4)).T),
        _tensor("B2", [-1.0, 1.0]),
    ]
    return nodes, weights


def captum_multilayer(tensors: int = 1, mult: float = 1.0, summed: bool = False):
    """BasicModel_MultiLayer (x: [N, 3]) -> [N, 2]. tensors=3: BasicModel_MultiLayer_MultiInput with scale 1,
    x: [N, 3, 3] whose rows are x1, x2, x3 (the model sees x1 + x2 + x3). mult=10: BasicModelBoolInput
    (booleans as 0/1). summed: Captum's single-score forward torch.sum(net(x)) per row -> [N, 1]."""
    nodes, weights = [], []
    src = "x"
    if tensors > 1:
        nodes.append(helper.make_node("ReduceSum", ["x", "axis1"], ["added"], keepdims=0))
        weights.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
        src = "added"
    if mult != 1.0:
        nodes.append(helper.make_node("Mul", [src, "mult"], ["scaled"]))
        weights.append(_tensor("mult", [mult]))
        src = "scaled"
    body, body_weights = _multilayer_nodes(src, "lin2" if summed else "out")
    nodes += body
    weights += body_weights
    if summed:
        nodes.append(helper.make_node("ReduceSum", ["lin2", "axis1"], ["out"], keepdims=1))
        if tensors == 1:
            weights.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    shape = ["N", 3] if tensors == 1 else ["N", tensors, 3]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1 if summed else 2])],
        weights,
    )


def captum_basic(integer: bool = False):
    """BasicModel: 1 - relu(1 - x), x: [N, 3] -> [N, 3]. integer: an int64 input computed in int64 (relu as
    max(0, .), which ONNX Runtime has for integers), the output cast to float (Captum's int_to_float)."""
    relu = (
        helper.make_node("Max", ["a", "zero"], ["r"]) if integer else helper.make_node("Relu", ["a"], ["r"])
    )
    nodes = [
        helper.make_node("Sub", ["one", "x"], ["a"]),
        relu,
        helper.make_node("Sub", ["one", "r"], ["o"]),
        helper.make_node("Cast", ["o"], ["out"], to=TensorProto.FLOAT),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.INT64 if integer else TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3])],
        _constants(integer),
    )


def _constants(integer: bool) -> list:
    """The constants one (and, for an integer model, zero) in the input's type."""
    if not integer:
        return [_tensor("one", [1.0])]
    return [numpy_helper.from_array(np.array([v], np.int64), name) for name, v in (("one", 1), ("zero", 0))]


def captum_model3(integer: bool = False):
    """BasicModel3: relu(relu(x1 - 1) - relu(x2)) with x = [x1, x2]: [N, 2] -> [N, 1]. integer: an int64
    input computed in int64, the output cast to float (Captum's int_to_float)."""

    def relu(source: str, out: str):
        if integer:
            return helper.make_node("Max", [source, "zero"], [out])
        return helper.make_node("Relu", [source], [out])

    nodes = [
        helper.make_node("Split", ["x", "halves"], ["x1", "x2"], axis=1),
        helper.make_node("Sub", ["x1", "one"], ["a"]),
        relu("a", "r1"),
        relu("x2", "r2"),
        helper.make_node("Sub", ["r1", "r2"], ["d"]),
        relu("d", "o"),
        helper.make_node("Cast", ["o"], ["out"], to=TensorProto.FLOAT),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.INT64 if integer else TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1])],
        [*_constants(integer), numpy_helper.from_array(np.array([1, 1], np.int64), "halves")],
    )


def captum_sum(features: int):
    """Captum's sum_forward: the sum of every input value, x: [N, features] -> [N, 1]."""
    nodes = [helper.make_node("ReduceSum", ["x", "axis1"], ["out"], keepdims=1)]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array([1], np.int64), "axis1")],
    )


def captum_conv(column: bool = False):
    """BasicModel_ConvNet_One_Conv on x + x2: conv 3x3 of ones with biases (-50, -75), ReLU, flatten to 8,
    fc1 = [ones(4, 5), -ones(4, 3)], ReLU -> [N, 4]. Input [N, 2, 4, 4]: channel 0 is x, channel 1 is x2;
    column=True: x2 is [4, 1] (its values in channel 1, column 0), added to every column of x."""
    nodes = [
        helper.make_node("Split", ["x", "halves"], ["a", "b"], axis=1),
    ]
    other = "b"
    if column:
        nodes.append(helper.make_node("Slice", ["b", "start", "stop", "axis3"], ["b0"]))
        other = "b0"
    nodes += [
        helper.make_node("Add", ["a", other], ["summed"]),
        helper.make_node("Conv", ["summed", "K", "KB"], ["c"]),
        helper.make_node("Relu", ["c"], ["rc"]),
        helper.make_node("Flatten", ["rc"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "F"], ["f"]),
        helper.make_node("Add", ["f", "FB"], ["fc"]),
        helper.make_node("Relu", ["fc"], ["out"]),
    ]
    fc1 = np.concatenate([np.ones((4, 5)), -np.ones((4, 3))], axis=1)
    weights = [
        numpy_helper.from_array(np.array([1, 1], np.int64), "halves"),
        _tensor("K", np.ones((2, 1, 3, 3))),
        _tensor("KB", [-50.0, -75.0]),
        _tensor("F", fc1.T),
        _tensor("FB", np.zeros(4)),
    ]
    if column:
        weights += [
            numpy_helper.from_array(np.array([value], np.int64), name)
            for name, value in (("start", 0), ("stop", 1), ("axis3", 3))
        ]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 4])],
        weights,
    )
