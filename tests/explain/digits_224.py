"""A 224×224 image model with smooth decision structure, and its data: the digits sample scaled up.

The model averages each 8×8 block of a 1×224×224 input (AveragePool) and feeds the 28×28 result to the
digits classifier of sample_models/, weights and all; no training. Its data are the digits upscaled by
8 (nearest), so the model reads them exactly as the digits classifier reads the originals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

FACTOR = 8  # 28 × 8 = 224
SIDE = 28 * FACTOR


def build(digits_dir: Path) -> onnx.ModelProto:
    """The digits classifier behind an 8×8 AveragePool of a (N, 1, 224, 224) input."""
    digits = onnx.load(str(digits_dir / "classifier.onnx"))
    graph = digits.graph
    (inner,) = [value for value in graph.input if value.name not in {init.name for init in graph.initializer}]
    pool = helper.make_node(
        "AveragePool", ["image224"], [inner.name], kernel_shape=[FACTOR, FACTOR], strides=[FACTOR, FACTOR]
    )
    outer = helper.make_tensor_value_info("image224", TensorProto.FLOAT, ["N", 1, SIDE, SIDE])
    merged = helper.make_graph(
        [pool, *graph.node],
        "digits_224",
        [outer],
        list(graph.output),
        list(graph.initializer),
        value_info=list(graph.value_info),
    )
    model = helper.make_model(
        merged, opset_imports=list(digits.opset_import), producer_name="onnx-auditor-tests"
    )
    model.ir_version = digits.ir_version
    model.metadata_props.extend(digits.metadata_props)
    onnx.checker.check_model(model)
    return model


def upscale(images: np.ndarray) -> np.ndarray:
    """Digits (n, 28, 28) or (n, 1, 28, 28) -> (n, 1, 224, 224) by nearest-neighbour repetition."""
    rows = np.asarray(images, dtype=np.float32).reshape(len(images), 1, 28, 28)
    return np.kron(rows, np.ones((1, 1, FACTOR, FACTOR), dtype=np.float32))
