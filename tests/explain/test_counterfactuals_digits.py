"""Counterfactuals on the digits sample: the VAE's latent search flips held-out digits to their runner-up
class and stays closer to real digits than an input-space search does."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.data import load_data
from auditor.explain.counterfactuals import CounterfactualParams, counterfactuals, summarize
from auditor.explain.counterfactuals.measures import NearestReference
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.session import SessionSettings

HELD_OUT = 50  # the first 50 rows are explained; the other 400 are the realism reference


@pytest.fixture(scope="module")
def digits(digits_dir):
    bb = BlackBox.open(digits_dir / "classifier.onnx", OpenOptions(device="cpu", threads=1))
    settings = SessionSettings(device="cpu", threads=1)
    generator = Generator.open(digits_dir / "generator.onnx", settings)
    encoder = Encoder.open(digits_dir / "encoder.onnx", settings)
    data = load_data(digits_dir / "samples.npz")
    return bb, generator, encoder, data.x[:HELD_OUT], data.x[HELD_OUT:]


def test_latent_counterfactuals_flip_digits_into_digit_like_images(digits) -> None:
    bb, generator, encoder, X, reference = digits
    results = counterfactuals(
        bb,
        X[:6],
        "second",
        generator=generator,
        encoder=encoder,
        reference=reference,
        params=CounterfactualParams(budget=800),
        rng=0,
    )
    assert sum(r.found for r in results) >= 5
    for r in results:
        assert r.space == "latent" and r.queries <= 800
        assert r.counterfactuals.shape == (1, 1, 28, 28)
        assert r.counterfactuals.min() >= 0.0 and r.counterfactuals.max() <= 1.0
        assert r.z0_error is not None and r.z0_error < 0.2
        if r.found:
            assert bb.predict_labels(r.counterfactuals)[0] == r.target
            assert r.realism[0] < 2.0 and r.reconstruction[0] < 0.1


@pytest.mark.slow
def test_runner_up_counterfactuals_for_50_held_out_digits_are_valid_and_latent_ones_more_realistic(
    digits,
) -> None:
    bb, generator, encoder, X, reference = digits
    latent = counterfactuals(
        bb, X, "second", generator=generator, encoder=encoder, reference=reference, rng=0
    )
    pixels = counterfactuals(bb, X, "second", reference=reference, rng=0)
    runner_up = np.argsort(-bb.predict(X), axis=1)[:, 1]
    assert [r.target for r in latent] == runner_up.tolist()
    found = np.array([r.found for r in latent])
    assert found.mean() >= 0.9
    assert np.array_equal(
        bb.predict_labels(np.concatenate([r.counterfactuals for r in latent]))[found], runner_up[found]
    )
    latent_realism, pixel_realism = summarize(latent).median_realism, summarize(pixels).median_realism
    inputs_realism = float(np.median(NearestReference(reference).realism(X)))
    assert latent_realism < pixel_realism
    assert latent_realism < 1.5 * inputs_realism
