"""Tiny models with known scores for the attribution tests: linear log-odds over images or rows, a tanh MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import linear, model, save

from auditor.model.blackbox import BlackBox, OpenOptions

BATCH = 32


def open_model(proto, path: Path, batch_size: int = BATCH) -> BlackBox:
    """A CPU BlackBox with a fixed batch size and no row cache, so ONNX Runtime calls can be counted exactly."""
    return BlackBox.open(
        save(proto, path), OpenOptions(device="cpu", batch_size=batch_size, threads=1, cache=False)
    )


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
