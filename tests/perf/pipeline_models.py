"""Tiny generator and classifier graphs for the pipeline tests (CPU and CUDA)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import conv_image, linear, model

LATENT = 4
RNG = np.random.default_rng(5)
W_IMAGE = RNG.normal(size=(LATENT, 64)).astype(np.float32)
W_FLAT = RNG.normal(size=(64, 3))


def generator(shape: tuple[int, ...] = (1, 8, 8), scale: float | None = None) -> object:
    """z (N, 4) -> sigmoid(z W) reshaped to shape (or z W * scale, unbounded, when scale is given)."""
    value = helper.make_tensor_value_info
    nodes = [helper.make_node("MatMul", ["z", "W"], ["h"])]
    inits = [
        numpy_helper.from_array(W_IMAGE, "W"),
        numpy_helper.from_array(np.array([-1, *shape], np.int64), "S"),
    ]
    if scale is None:
        nodes.append(helper.make_node("Sigmoid", ["h"], ["a"]))
    else:
        inits.append(numpy_helper.from_array(np.array(scale, np.float32), "K"))
        nodes.append(helper.make_node("Mul", ["h", "K"], ["a"]))
    nodes.append(helper.make_node("Reshape", ["a", "S"], ["x"]))
    return model(
        nodes,
        [value("z", TensorProto.FLOAT, ["N", LATENT])],
        [value("x", TensorProto.FLOAT, ["N", *shape])],
        inits,
    )


def uint8_classifier() -> object:
    """x uint8 (N, 64) -> float -> 3 logits."""
    value = helper.make_tensor_value_info
    nodes = [
        helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
    ]
    return model(
        nodes,
        [value("x", TensorProto.UINT8, ["N", 64])],
        [value("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array((W_FLAT / 100).astype(np.float32), "W")],
    )


#: name -> (generator proto, classifier proto, whether a device-side glue graph is needed)
CASES = {
    "nchw": (generator(), conv_image((1, 8, 8), 5, seed=2), False),
    "nhwc": (generator(), conv_image((1, 8, 8), 5, nhwc=True, seed=2), True),
    "float16_flat": (generator(), linear(W_FLAT, np.zeros(3), dtype=np.float16), True),
    "uint8": (generator((64,), scale=150.0), uint8_classifier(), True),
}
