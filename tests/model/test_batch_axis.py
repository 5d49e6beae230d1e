"""Outputs whose batch axis is not first: read from the axis the user names, or refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model, save, softmax

from auditor.errors import ArgumentError, ConventionError
from auditor.model.blackbox import BlackBox, OpenOptions

RNG = np.random.default_rng(3)
W = RNG.normal(size=(5, 3)).astype(np.float32)
X = RNG.normal(size=(11, 5)).astype(np.float32)


def transposed_scores() -> object:
    """x (N, 5) -> logits (3, N): the classes first, the batch on axis 1."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["z"]),
        helper.make_node("Transpose", ["z"], ["scores"], perm=[1, 0]),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [3, "N"])],
        [numpy_helper.from_array(W, "W")],
    )


def time_major() -> object:
    """x (N, 5) -> (time=2, N, 3), as an EEG model returns one score row per time step."""
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["z"]),
        helper.make_node("Unsqueeze", ["z", "axes"], ["u"]),
        helper.make_node("Concat", ["u", "u"], ["scores"], axis=0),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, "N", 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(np.array([0], np.int64), "axes")],
    )


def test_scores_read_from_the_named_axis(tmp_path: Path) -> None:
    path = save(transposed_scores(), tmp_path / "t.onnx")
    with pytest.raises(
        ConventionError, match=r"output 'scores' has shape \[3, 4\] for 4 rows.*--output-batch-axis 1"
    ):
        BlackBox.open(path)
    bb = BlackBox.open(path, OpenOptions(output_batch_axis=1, batch_size=4, cache=False))
    assert bb.n_classes == 3 and bb.signature.batch_axis == 1
    np.testing.assert_allclose(bb.predict(X), softmax(X @ W), rtol=1e-5)  # 11 rows in chunks of 4


def test_extra_axes_are_refused_in_one_line(tmp_path: Path) -> None:
    path = save(time_major(), tmp_path / "eeg.onnx")
    with pytest.raises(ConventionError, match=r"has shape \[2, 4, 3\] for 4 rows.*axis 1: read them there"):
        BlackBox.open(path)
    with pytest.raises(ConventionError, match=r"scores of shape \[4, 2, 3\] are not \(N, K\)"):
        BlackBox.open(path, OpenOptions(output_batch_axis=1))
    with pytest.raises(ConventionError, match="output batch axis 3: the output has 3 axes"):
        BlackBox.open(path, OpenOptions(output_batch_axis=3))
    with pytest.raises(ArgumentError, match="output_batch_axis must be 0 or more"):
        BlackBox.open(path, OpenOptions(output_batch_axis=-1))
