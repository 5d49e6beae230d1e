"""Tiny ONNX graphs built with onnx.helper, one per vendor convention, for tests across the suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
ML_OPSET = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
NP_TO_ONNX = {np.float32: TensorProto.FLOAT, np.float16: TensorProto.FLOAT16, np.float64: TensorProto.DOUBLE}


def model(
    nodes, inputs, outputs, initializers=(), opset=OPSET, metadata=None, name="test"
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    proto = helper.make_model(graph, opset_imports=opset, producer_name="onnx-auditor-tests")
    proto.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def save(proto: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(proto.SerializeToString())
    return path


def linear(
    w: np.ndarray,
    b: np.ndarray,
    *,
    head: str = "logits",
    dtype=np.float32,
    batch: int | str = "N",
    output_name: str = "scores",
    input_name: str = "x",
    metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """x (batch, d) -> x @ w + b, followed by `head`: logits, softmax, logsoftmax, sigmoid."""
    w = np.asarray(w, dtype=dtype)
    b = np.asarray(b, dtype=dtype)
    et = NP_TO_ONNX[dtype]
    d, k = w.shape
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["z"]),
    ]
    if head == "logits":
        nodes.append(helper.make_node("Identity", ["z"], [output_name]))
    elif head == "softmax":
        nodes.append(helper.make_node("Softmax", ["z"], [output_name], axis=-1))
    elif head == "logsoftmax":
        nodes.append(helper.make_node("LogSoftmax", ["z"], [output_name], axis=-1))
    elif head == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["z"], [output_name]))
    else:
        raise ValueError(head)
    return model(
        nodes,
        [helper.make_tensor_value_info(input_name, et, [batch, d])],
        [helper.make_tensor_value_info(output_name, et, [batch, k])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
        metadata=metadata,
    )


def conv_image(shape_chw=(1, 8, 8), k: int = 3, nhwc: bool = False, seed: int = 0) -> onnx.ModelProto:
    """A one-conv CNN: (N,C,H,W) or (N,H,W,C) -> k logits via global average pooling and a dense layer."""
    rng = np.random.default_rng(seed)
    c, h, w = shape_chw
    filt = rng.normal(0, 0.5, (4, c, 3, 3)).astype(np.float32)
    dense = rng.normal(0, 1.0, (4, k)).astype(np.float32)
    nodes = []
    src = "image"
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        src = "nchw"
    nodes += [
        helper.make_node("Conv", [src, "F"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("MatMul", ["f", "D"], ["logits"]),
    ]
    in_shape = ["N", h, w, c] if nhwc else ["N", c, h, w]
    return model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k])],
        [numpy_helper.from_array(filt, "F"), numpy_helper.from_array(dense, "D")],
    )


def linear_classifier_ml(
    w: np.ndarray, b: np.ndarray, *, zipmap: bool, string_labels: tuple[str, ...] | None = None
) -> onnx.ModelProto:
    """skl2onnx-style: ai.onnx.ml LinearClassifier (SOFTMAX) -> label + probabilities (+ ZipMap)."""
    d, k = w.shape
    labels_attr = (
        {"classlabels_strings": list(string_labels)}
        if string_labels
        else {"classlabels_ints": list(range(k))}
    )
    label_type = TensorProto.STRING if string_labels else TensorProto.INT64
    nodes = [
        helper.make_node(
            "LinearClassifier",
            ["x"],
            ["label", "probabilities"],
            domain="ai.onnx.ml",
            coefficients=np.asarray(w, np.float32).T.reshape(-1).tolist(),
            intercepts=np.asarray(b, np.float32).tolist(),
            post_transform="SOFTMAX",
            **labels_attr,
        )
    ]
    outputs = [helper.make_tensor_value_info("output_label", label_type, ["N"])]
    nodes.append(helper.make_node("Identity", ["label"], ["output_label"]))
    if zipmap:
        zip_attr = (
            {"classlabels_strings": list(string_labels)}
            if string_labels
            else {"classlabels_int64s": list(range(k))}
        )
        nodes.append(
            helper.make_node(
                "ZipMap", ["probabilities"], ["output_probability"], domain="ai.onnx.ml", **zip_attr
            )
        )
        key_type = TensorProto.STRING if string_labels else TensorProto.INT64
        map_type = helper.make_map_type_proto(key_type, helper.make_tensor_type_proto(TensorProto.FLOAT, []))
        outputs.append(
            helper.make_value_info("output_probability", helper.make_sequence_type_proto(map_type))
        )
    else:
        nodes.append(helper.make_node("Identity", ["probabilities"], ["output_probability"]))
        outputs.append(helper.make_tensor_value_info("output_probability", TensorProto.FLOAT, ["N", k]))
    return model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])], outputs, opset=ML_OPSET
    )


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
