"""Specification of auditor.explain.attribution.lime (LIME, KernelSHAP) and .features (grid, superpixels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attribution_models import BATCH, log_odds_image, log_odds_linear, open_model
from onnx_factory import conv_image

from auditor.errors import ArgumentError
from auditor.explain.attribution import lime, rank_correlation
from auditor.explain.attribution.core import Features
from auditor.explain.attribution.features import grid_segments, superpixels
from auditor.explain.attribution.lime import sample_coalitions, weighted_ridge


def test_kernel_shap_gives_the_shapley_values_of_a_linear_score(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w, x, base = rng.normal(size=(3, 8))
    bb = open_model(log_odds_linear(w, 0.1), tmp_path / "m.onnx")
    result = lime(bb, x, target=1, baseline=base, kernel="shap", samples=200, score="log_odds", rng=0)
    np.testing.assert_allclose(result.map, w * (x - base), atol=1e-4)
    assert result.fidelity == pytest.approx(1.0, abs=1e-6)
    assert result.total == pytest.approx(result.score_input - result.score_baseline, abs=1e-3)
    assert result.method == "kernel-shap"


def test_lime_grid_coefficients_are_the_cell_contributions_of_a_linear_score(tmp_path) -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(1, 8, 8))
    x = rng.uniform(size=(1, 8, 8))
    bb = open_model(log_odds_image(w, 0.0), tmp_path / "m.onnx")
    exact = lime(bb, x, target=1, window=2, samples=300, alpha=0.0, score="log_odds", rng=2)
    cells = (w * x)[0].reshape(4, 2, 4, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(exact.map, np.kron(cells, np.ones((2, 2))), atol=1e-4)
    assert exact.fidelity == pytest.approx(1.0, abs=1e-6)
    # The lime package's defaults (ridge alpha 1, kernel width 0.25) shrink the fit but keep its ranking.
    default = lime(bb, x, target=1, window=2, samples=300, score="log_odds", rng=2)
    assert default.settings["alpha"] == 1.0 and default.settings["interpretable_features"] == 16
    assert rank_correlation(default.map[::2, ::2], cells) > 0.95
    assert 0.9 < default.fidelity <= 1.0


def test_lime_is_reproducible_from_its_seed(tmp_path) -> None:
    bb = open_model(conv_image((1, 12, 12), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(3).uniform(size=(1, 12, 12))
    a = lime(bb, x, samples=120, window=3, rng=7)
    b = lime(bb, x, samples=120, window=3, rng=7)
    c = lime(bb, x, samples=120, window=3, rng=8)
    np.testing.assert_array_equal(a.map, b.map)
    assert not np.array_equal(a.map, c.map)
    assert a.settings["seed"] == 7 and 0.0 <= a.fidelity <= 1.0


def test_lime_sends_its_samples_in_batches(tmp_path) -> None:
    bb = open_model(conv_image((1, 12, 12), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(4).uniform(size=(1, 12, 12))
    calls = bb.calls
    result = lime(bb, x, samples=250, rng=0)
    assert result.queries == 250 == bb.queries
    assert result.calls == bb.calls - calls == math.ceil(250 / BATCH)


def test_coalitions_and_kernel_weights() -> None:
    rng = np.random.default_rng(5)
    on, weights = sample_coalitions(10, 500, "lime", 0.25, rng)
    assert on[0].all() and not on[1].any()
    assert 0.4 < on[2:].mean() < 0.6  # Bernoulli(0.5)
    assert weights[0] == pytest.approx(1.0) and np.all(np.diff(weights[np.argsort(on.sum(1))]) >= -1e-12)
    on, weights = sample_coalitions(10, 500, "shap", 0.25, rng)
    sizes = on[2:].sum(axis=1)
    assert sizes.min() >= 1 and sizes.max() <= 9
    # The Shapley kernel favours the smallest and largest coalitions.
    assert np.isin(sizes, [1, 9]).mean() > np.isin(sizes, [5]).mean()
    assert weights[0] == weights[1] > 1000 * weights[2]


def test_weighted_ridge_matches_the_closed_form() -> None:
    rng = np.random.default_rng(6)
    design = rng.integers(0, 2, size=(60, 5)).astype(float)
    y = design @ rng.normal(size=5) + rng.normal(scale=0.1, size=60)
    weights = rng.uniform(0.1, 1, size=60)
    coef, intercept, r2 = weighted_ridge(design, y, weights, alpha=1.0)
    a = np.hstack([design, np.ones((60, 1))])
    penalty = np.diag([1.0] * 5 + [0.0])
    expected = np.linalg.solve(a.T @ (weights[:, None] * a) + penalty, a.T @ (weights * y))
    np.testing.assert_allclose(np.append(coef, intercept), expected, atol=1e-8)
    fitted = a @ expected
    mean = np.average(y, weights=weights)
    assert r2 == pytest.approx(1 - weights @ (y - fitted) ** 2 / (weights @ (y - mean) ** 2))


def test_grid_and_superpixel_features() -> None:
    view = Features((1, 6, 7), "NCHW")
    labels = grid_segments(view, 3).reshape(6, 7)
    # 7 columns in cells of 3: the last cell is one column wide.
    assert labels.max() + 1 == 2 * 3 and labels[0, 6] == 2 and labels[5, 0] == 3
    assert grid_segments(Features((9,), "flat"), 1).tolist() == list(range(9))
    image = np.zeros((1, 16, 16))
    image[:, :, 8:] = 1.0
    spx = superpixels(image, Features((1, 16, 16), "NCHW"), 12, np.random.default_rng(0)).reshape(16, 16)
    assert spx.min() == 0 and len(np.unique(spx)) == spx.max() + 1
    for label in np.unique(spx):  # no superpixel straddles the edge between the two flat halves
        assert len(np.unique(image[0][spx == label])) == 1
    with pytest.raises(ArgumentError, match="image"):
        superpixels(np.zeros(5), Features((5,), "flat"), 3, np.random.default_rng(0))


def test_lime_with_superpixels_runs_on_rgb(tmp_path) -> None:
    bb = open_model(conv_image((3, 16, 16), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(7).uniform(size=(3, 16, 16))
    result = lime(bb, x, features="superpixels", segments=20, samples=150, rng=1)
    segments = result.extra["segments"]
    assert result.map.shape == segments.shape == (16, 16)
    for label in np.unique(segments):  # one coefficient per superpixel
        assert np.ptp(result.map[segments == label]) == 0


def test_lime_rejects_unknown_options(tmp_path) -> None:
    bb = open_model(conv_image((1, 6, 6), 3), tmp_path / "m.onnx")
    with pytest.raises(ArgumentError, match="features"):
        lime(bb, np.zeros((1, 6, 6)), features="slic")
    with pytest.raises(ArgumentError, match="kernel"):
        lime(bb, np.zeros((1, 6, 6)), kernel="rbf")
