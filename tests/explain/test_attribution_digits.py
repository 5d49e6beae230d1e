"""The attributions on the committed digits CNN: better than chance at ranking pixels, sensitive to the
model's weights, every method batched."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from auditor.explain.attribution import (
    faithfulness,
    gaussian_lime,
    lime,
    occlusion,
    one_vs_one,
    randomisation_check,
)
from auditor.model.blackbox import BlackBox, OpenOptions

DIGITS = Path(__file__).resolve().parents[2] / "sample_models" / "digits"
pytestmark = pytest.mark.skipif(
    not (DIGITS / "classifier.onnx").exists(),
    reason="sample_models/digits is not built (python sample_models/build.py)",
)
BATCH = 256


@pytest.fixture(scope="module")
def cnn() -> BlackBox:
    options = OpenOptions(device="cpu", batch_size=BATCH, threads=1, cache=False)
    return BlackBox.open(DIGITS / "classifier.onnx", options)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with np.load(DIGITS / "samples.npz") as data:
        return data["X"][:20].astype(np.float64)


def test_occlusion_and_lime_delete_better_than_random_orders(cnn: BlackBox, digits: np.ndarray) -> None:
    ratios: dict[str, list[float]] = {"occlusion": [], "lime": []}
    for i, x in enumerate(digits):
        maps = {
            "occlusion": occlusion(cnn, x, window=4, stride=4),
            "lime": lime(cnn, x, samples=150, rng=i),
        }
        for name, result in maps.items():
            curves = faithfulness(cnn, x, result.map, target=result.target, steps=10, orders=2, rng=i)
            ratios[name].append(curves.deletion_auc / curves.random_deletion_auc)
    for name, values in ratios.items():
        assert sum(r < 1 for r in values) >= 16, (name, values)
        assert np.median(values) < 0.5, (name, values)


def test_randomising_the_weights_changes_the_maps(cnn: BlackBox, digits: np.ndarray) -> None:
    lime_check = randomisation_check(cnn, lime, digits[0], samples=300, seeds=(0, 1), rng=0)
    assert lime_check.layers == (1, 2, 3, 4)
    assert lime_check.names[0] == ("head.weight", "head.bias")
    assert lime_check.seed_correlation > 0.6
    assert max(lime_check.correlations) < lime_check.seed_correlation - 0.3
    occlusion_check = randomisation_check(cnn, occlusion, digits[1], window=4, stride=2, rng=0)
    assert occlusion_check.seed_correlation == 1.0
    assert max(occlusion_check.correlations) < 0.6


def test_every_method_batches_its_rows(cnn: BlackBox, digits: np.ndarray) -> None:
    x = digits[2]
    counterfactual = digits[3]
    runs = [
        occlusion(cnn, x, window=4, stride=2),
        lime(cnn, x, samples=300),
        lime(cnn, x, samples=300, kernel="shap"),
        gaussian_lime(cnn, x, samples=300),
        one_vs_one(cnn, x, counterfactual, contrast=int(np.argsort(cnn.predict(x[None])[0])[-2])),
    ]
    for result in runs:
        assert result.calls == math.ceil(result.queries / BATCH), result.method
    calls = cnn.calls
    curves = faithfulness(cnn, x, runs[0].map, target=runs[0].target)
    assert curves.calls == cnn.calls - calls == math.ceil((5 + 1) * 2 * 51 / BATCH)
