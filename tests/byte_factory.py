"""A file-type classifier over 2,048 int32 byte values, built with onnx.helper: a coarse byte histogram
(eight bins of 32 values) scored by naive Bayes, and rows drawn from each class's byte distribution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model, save

LENGTH = 2048
BINS = 8
CLASSES = ("text", "binary", "zeros", "high")
#: The bin probabilities of each class's bytes: printable text, uniform bytes, mostly zero, mostly >= 128.
BIN_PROBABILITIES = np.array(
    [
        [0.02, 0.30, 0.30, 0.30, 0.02, 0.02, 0.02, 0.02],
        [0.125] * 8,
        [0.79, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03],
        [0.01, 0.01, 0.01, 0.01, 0.24, 0.24, 0.24, 0.24],
    ]
)


def _histogram_scorer(ints: str, logits: str) -> tuple[list[object], list[object]]:
    """Nodes and initializers from int32 bytes `ints` to `logits` (N, 4): the bin shares times each class's
    log bin probabilities."""
    weights = (np.log(BIN_PROBABILITIES).T * 4).astype(np.float32)  # (8, 4): a few logits between classes
    nodes = [
        helper.make_node("Div", [ints, "width"], ["bin32"]),  # integer division: 0..255 -> 0..7
        helper.make_node("Cast", ["bin32"], ["bin"], to=TensorProto.INT64),
        helper.make_node("OneHot", ["bin", "depth", "onoff"], ["hot"], axis=-1),
        helper.make_node("ReduceMean", ["hot"], ["share"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["share", "W"], [logits]),
    ]
    inits = [
        numpy_helper.from_array(np.array(256 // BINS, np.int32), "width"),
        numpy_helper.from_array(np.array(BINS, np.int64), "depth"),
        numpy_helper.from_array(np.array([0, 1], np.float32), "onoff"),
        numpy_helper.from_array(weights, "W"),
    ]
    return nodes, inits


def byte_classifier() -> object:
    """bytes (N, 2048) int32 -> logits (N, 4) of the byte histogram (`_histogram_scorer`)."""
    nodes, inits = _histogram_scorer("bytes", "logits")
    return model(
        nodes,
        [helper.make_tensor_value_info("bytes", TensorProto.INT32, ["N", LENGTH])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(CLASSES)])],
        inits,
        metadata={"class_names": json.dumps(CLASSES)},
    )


def byte_rows(per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows (n, 2048) of integer bytes drawn bin by bin from each class's distribution, and their classes."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for k, probabilities in enumerate(BIN_PROBABILITIES):
        bins = rng.choice(BINS, size=(per_class, LENGTH), p=probabilities / probabilities.sum())
        rows.append(bins * 32 + rng.integers(0, 32, size=bins.shape))
        labels.append(np.full(per_class, k))
    return np.concatenate(rows).astype(np.float32), np.concatenate(labels)


def save_byte_workspace(folder: Path, per_class: int = 12) -> tuple[Path, Path]:
    """The classifier and an .npz of labelled rows (labels as the class names) in `folder`."""
    path = save(byte_classifier(), folder / "bytes.onnx")
    x, y = byte_rows(per_class)
    data = folder / "bytes.npz"
    np.savez(data, X=x, y=np.array(CLASSES)[y])
    return path, data


def checked_byte_classifier() -> object:
    """The same classifier fed float32 bytes, with a fifth class, "off-set", that wins by far as soon as any
    value is not an integer in 0..255: the model itself tells whether a caller left the value set."""
    scorer, scorer_inits = _histogram_scorer("ints", "byte_logits")
    nodes = [
        helper.make_node("Round", ["bytes"], ["rounded"]),
        helper.make_node("Sub", ["bytes", "rounded"], ["fraction"]),
        helper.make_node("Abs", ["fraction"], ["off_integer"]),
        helper.make_node("Sub", ["bytes", "top"], ["above_top"]),
        helper.make_node("Relu", ["above_top"], ["above"]),
        helper.make_node("Neg", ["bytes"], ["negated"]),
        helper.make_node("Relu", ["negated"], ["below"]),
        helper.make_node("Sum", ["off_integer", "above", "below"], ["outside"]),
        helper.make_node("ReduceSum", ["outside", "one"], ["outside_total"], keepdims=1),
        helper.make_node("Mul", ["outside_total", "gain"], ["outside_score"]),
        helper.make_node("Sub", ["outside_score", "offset"], ["off_set"]),
        helper.make_node("Cast", ["bytes"], ["ints"], to=TensorProto.INT32),
        *scorer,
        helper.make_node("Concat", ["byte_logits", "off_set"], ["logits"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(np.array(255, np.float32), "top"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array(1000, np.float32), "gain"),
        numpy_helper.from_array(np.array(100, np.float32), "offset"),
        *scorer_inits,
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("bytes", TensorProto.FLOAT, ["N", LENGTH])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(CLASSES) + 1])],
        inits,
        metadata={"class_names": json.dumps([*CLASSES, "off-set"])},
    )
