"""Hostile and faulty ONNX graphs for the hardening tests: allocation bombs, endless loops, NaN rows."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model

D, K = 3, 2
W = np.array([[1.0, -1.0], [0.5, 0.25], [-0.5, 2.0]], dtype=np.float32)


def _io(d: int = D, k: int = K) -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    return (
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k])],
    )


def allocation_bomb(copies: int = 6, side: int = 16_000) -> onnx.ModelProto:
    """`copies` ConstantOfShape nodes of side x side floats (each just under ONNX Runtime's 1 GiB folding cap).

    Constant folding at session creation materialises every one of them: memory grows with `copies`,
    without a bound the file's few hundred bytes would suggest.
    """
    nodes = [helper.make_node("MatMul", ["x", "W"], ["acc0"])]
    for i in range(copies):
        value = helper.make_tensor(f"v{i}", TensorProto.FLOAT, [1], [float(i + 1)])
        nodes += [
            helper.make_node("ConstantOfShape", ["shape"], [f"big{i}"], value=value),
            helper.make_node("ReduceMax", [f"big{i}"], [f"m{i}"], keepdims=0),
            helper.make_node("Add", [f"acc{i}", f"m{i}"], [f"acc{i + 1}"]),
        ]
    nodes.append(helper.make_node("Identity", [f"acc{copies}"], ["logits"]))
    shape = numpy_helper.from_array(np.array([side, side], np.int64), "shape")
    return model(nodes, *_io(), [shape, numpy_helper.from_array(W, "W")])


def endless_loop(trips: int = 2**62, output: str = "logits", k: int = K) -> onnx.ModelProto:
    """x @ W fed through a Loop of `trips` iterations that adds a negligible constant each time."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "eps"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(np.array(1e-12, np.float32), "eps")],
    )
    weights = np.resize(W, (D, k)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Loop", ["trips", "cond", "xw"], [output], body=body),
    ]
    initializers = [
        numpy_helper.from_array(np.array(trips, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "cond"),
        numpy_helper.from_array(weights, "W"),
    ]
    inputs, _ = _io()
    outputs = [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", k])]
    return model(nodes, inputs, outputs, initializers)


def nan_rows() -> onnx.ModelProto:
    """Logits x @ W + sqrt(x0): NaN for every row whose first feature is negative, finite otherwise."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Slice", ["x", "start", "stop", "axis"], ["x0"]),
        helper.make_node("Sqrt", ["x0"], ["root"]),
        helper.make_node("Add", ["xw", "root"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(W, "W"),
        numpy_helper.from_array(np.array([0], np.int64), "start"),
        numpy_helper.from_array(np.array([1], np.int64), "stop"),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
    ]
    return model(nodes, *_io(), initializers)


def generator(latent: int = 4, features: int = D) -> onnx.ModelProto:
    """z (N, latent) -> x (N, features), a fixed linear map."""
    a = np.linspace(-1.0, 1.0, latent * features, dtype=np.float32).reshape(latent, features)
    return model(
        [helper.make_node("MatMul", ["z", "A"], ["x"])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [numpy_helper.from_array(a, "A")],
    )
