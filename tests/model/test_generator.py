"""Generator and Encoder wrappers: latent size, batched calls, and shape checks that name the problem."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import linear, save

from auditor.errors import DataError
from auditor.model.generator import Encoder, Generator
from auditor.model.session import SessionSettings

CPU = SessionSettings(device="cpu")
RNG = np.random.default_rng(3)


def test_generator_and_encoder_are_the_linear_maps(tmp_path):
    w, b = RNG.normal(size=(3, 5)), RNG.normal(size=5)
    generator = Generator.open(save(linear(w, b), tmp_path / "g.onnx"), CPU)
    encoder = Encoder.open(save(linear(w.T, np.zeros(3)), tmp_path / "e.onnx"), CPU)
    assert generator.latent_dim == 3 and generator.output_shape == (5,) and generator.queries == 0
    z = RNG.normal(size=(7, 3))
    x = generator.generate(z)
    np.testing.assert_allclose(x, z @ w + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(x), x @ w.T, rtol=1e-4, atol=1e-4)
    assert generator.queries == 7 and encoder.queries == 7


def test_encoder_refuses_rows_of_another_shape(tmp_path):
    encoder = Encoder.open(save(linear(RNG.normal(size=(5, 3)), np.zeros(3)), tmp_path / "e.onnx"), CPU)
    with pytest.raises(DataError, match=r"takes rows of shape \[5\], got \[1, 28, 28\]"):
        encoder.encode(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(DataError, match="got \\[4\\]"):
        encoder.encode(np.zeros((2, 4), np.float32))
    assert encoder.queries == 0  # refused before any call
