"""Specification of auditor.explain.attribution.onevsone: "why A and not B" against a counterfactual baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attribution_models import BATCH, open_model
from onnx_factory import linear

from auditor.errors import ArgumentError
from auditor.explain.attribution import one_vs_one


def _three_classes(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3))
    b = rng.normal(size=3)
    return open_model(linear(w, b), tmp_path / "m.onnx"), w, b, rng


def test_window_one_attributes_the_log_ratio_against_the_counterfactual(tmp_path) -> None:
    bb, w, b, rng = _three_classes(tmp_path)
    x, counterfactual = rng.normal(size=(2, 6))
    target = int(np.argmax(x @ w + b))
    contrast = (target + 1) % 3
    calls = bb.calls
    result = one_vs_one(bb, x, counterfactual, contrast=contrast, window=1, stride=1)
    # log p_A - log p_B = (w_A - w_B).x + (b_A - b_B): linear, so each feature's share is exact.
    direction = w[:, target] - w[:, contrast]
    np.testing.assert_allclose(result.map, direction * (x - counterfactual), atol=1e-4)
    gap = float(direction @ (x - counterfactual))
    assert result.extra["gap"] == pytest.approx(gap, abs=1e-4)
    assert result.total == pytest.approx(gap, abs=1e-4)  # completeness
    assert result.target == target and result.contrast == contrast and result.score == "log_ratio"
    assert result.method == "one-vs-one/occlusion" and result.settings["baseline"] == "counterfactual"
    assert result.calls == bb.calls - calls == math.ceil((6 + 2) / BATCH)


def test_lime_explainer_splits_the_same_gap(tmp_path) -> None:
    bb, w, b, rng = _three_classes(tmp_path)
    x, counterfactual = rng.normal(size=(2, 6))
    target = int(np.argmax(x @ w + b))
    contrast = (target + 2) % 3
    result = one_vs_one(
        bb, x, counterfactual, contrast=contrast, explainer="lime", kernel="shap", samples=100
    )
    direction = w[:, target] - w[:, contrast]
    np.testing.assert_allclose(result.map, direction * (x - counterfactual), atol=1e-3)
    assert result.method == "one-vs-one/lime"


def test_one_vs_one_checks_its_arguments(tmp_path) -> None:
    bb, _, _, rng = _three_classes(tmp_path)
    x = rng.normal(size=6)
    with pytest.raises(ArgumentError, match="differ"):
        one_vs_one(bb, x, x, target=1, contrast=1)
    with pytest.raises(ArgumentError, match="out of range"):
        one_vs_one(bb, x, x, contrast=5)
    with pytest.raises(ArgumentError, match="sets the baseline"):
        one_vs_one(bb, x, x, contrast=0, baseline="zero")
    with pytest.raises(ArgumentError, match="explainer"):
        one_vs_one(bb, x, x, contrast=0, explainer="gradient")
