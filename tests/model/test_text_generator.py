"""TextGenerator: a decoder z -> token logits, argmax decoding into sentences."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model, save

from auditor.errors import ConventionError, DataError
from auditor.model.text_generator import TextGenerator

VOCABULARY = ["[PAD]", "[EOS]", "hello", "world", ",", "again"]


def decoder(tmp_path, vocabulary=VOCABULARY, metadata=True):
    """logits[n, position, token] = (z @ W)[n, position * V + token]: z picks the tokens linearly."""
    length, size = 4, len(VOCABULARY)
    weights = np.zeros((2, length * size), np.float32)
    # z = (1, 0): "hello , world [EOS]"; z = (0, 1): "[PAD] again [EOS] hello"
    for position, token in enumerate([2, 4, 3, 1]):
        weights[0, position * size + token] = 1.0
    for position, token in enumerate([0, 5, 1, 2]):
        weights[1, position * size + token] = 1.0
    nodes = [
        helper.make_node("MatMul", ["z", "W"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape"], ["logits"]),
    ]
    proto = model(
        nodes,
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", length, size])],
        [
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(np.array([-1, length, size]), "shape"),
        ],
        metadata={"auditor.vocabulary": json.dumps(vocabulary)} if metadata else None,
    )
    return save(proto, tmp_path / "decoder.onnx")


def test_argmax_decoding_stops_at_the_end_token_and_skips_padding(tmp_path):
    generator = TextGenerator.open(decoder(tmp_path))
    assert generator.latent_dim == 2 and generator.length == 4
    ids = generator.decode(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(ids, [[2, 4, 3, 1], [0, 5, 1, 2]])
    assert generator.texts(ids) == ["hello, world", "again"]
    assert generator.queries == 2  # rows decoded


def test_vocabulary_must_fit_the_logits(tmp_path):
    with pytest.raises(ConventionError, match="scores 6 tokens but the vocabulary has 3"):
        TextGenerator.open(decoder(tmp_path), vocabulary=["a", "b", "c"])
    with pytest.raises(ConventionError, match="does not carry its vocabulary"):
        TextGenerator.open(decoder(tmp_path, metadata=False))
    generator = TextGenerator.open(decoder(tmp_path, metadata=False), vocabulary=VOCABULARY)
    with pytest.raises(DataError, match="ids below 6"):
        generator.texts(np.array([[7, 0, 0, 0]]))
