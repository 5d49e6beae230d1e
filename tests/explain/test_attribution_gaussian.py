"""Specification of Gaussian LIME (auditor.explain.attribution.lime.gaussian_lime): a gradient from queries
alone that equals SmoothGrad in expectation (Agarwal et al., ICML 2021), with an honest standard error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attribution_models import BATCH, log_odds_linear, open_model, tanh_mlp
from onnx_factory import conv_image, linear

from auditor.errors import ArgumentError
from auditor.explain.attribution import gaussian_lime

SIGMA = 0.5


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-u))


def test_least_squares_is_exact_on_a_linear_log_odds(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(2, 10))
    bb = open_model(log_odds_linear(w, 0.3), tmp_path / "m.onnx")
    result = gaussian_lime(bb, x, target=1, samples=60, score="log_odds", estimator="ols", sigma=SIGMA, rng=1)
    np.testing.assert_allclose(result.gradient, w, atol=1e-4)
    assert result.fidelity == pytest.approx(1.0, abs=1e-8)
    assert result.stderr.max() < 1e-4


def test_stein_estimate_approaches_w_as_one_over_root_samples(tmp_path) -> None:
    rng = np.random.default_rng(1)
    w, x = rng.normal(size=(2, 10))
    bb = open_model(log_odds_linear(w, 0.3), tmp_path / "m.onnx")

    def error(samples: int) -> float:
        runs = [
            gaussian_lime(
                bb, x, target=1, samples=samples, score="log_odds", estimator="stein", sigma=SIGMA, rng=s
            )
            for s in range(8)
        ]
        return float(np.mean([np.linalg.norm(r.gradient - w) for r in runs]))

    small, large = error(500), error(8000)
    assert large < 0.1 * np.linalg.norm(w)
    assert 2.5 < small / large < 6.5  # 16x the samples: about 4x smaller


def test_logistic_regression_matches_smoothgrad_within_the_reported_error(tmp_path) -> None:
    rng = np.random.default_rng(2)
    d = 10
    w = rng.normal(size=d) / np.sqrt(d) * 2
    x = rng.normal(size=d) * 0.3
    bb = open_model(linear(w[:, None], np.array([0.2]), head="sigmoid"), tmp_path / "m.onnx")
    # Exact SmoothGrad of sigmoid(w.x + b): w E[s'(u)], u ~ N(w.x + b, sigma^2 |w|^2), by Gauss-Hermite quadrature.
    nodes, quad = np.polynomial.hermite_e.hermegauss(80)
    u = w @ x + 0.2 + SIGMA * np.linalg.norm(w) * nodes
    smoothgrad = w * float(quad @ (_sigmoid(u) * (1 - _sigmoid(u))) / np.sqrt(2 * np.pi))
    errors, zscores = [], []
    for seed in range(10):
        result = gaussian_lime(bb, x, target=1, samples=2000, score="probability", sigma=SIGMA, rng=seed)
        assert result.settings["estimator"] == "ols"
        bound = 3 * np.sqrt((result.stderr**2).sum())
        assert np.linalg.norm(result.gradient - smoothgrad) <= bound
        errors.append(result.gradient - smoothgrad)
        zscores.append((result.gradient - smoothgrad) / result.stderr)
    assert 0.6 < np.std(zscores) < 1.5  # the reported standard error is the real spread
    plain = w * _sigmoid(w @ x + 0.2) * (1 - _sigmoid(w @ x + 0.2))
    assert np.linalg.norm(np.mean(errors, axis=0)) < 0.3 * np.linalg.norm(plain - smoothgrad)


@pytest.mark.parametrize(("estimator", "samples"), [("ols", 4000), ("stein", 40_000)])
def test_an_rbf_kernel_gives_smoothgrad_at_tau(tmp_path, estimator: str, samples: int) -> None:
    # METHODS.md: weights exp(-|eps|^2 / 2 nu^2) tilt N(0, sigma^2) into N(0, tau^2), 1/tau^2 = 1/sigma^2 + 1/nu^2
    rng = np.random.default_rng(2)
    d = 10
    w = rng.normal(size=d) / np.sqrt(d) * 2
    x = rng.normal(size=d) * 0.3
    bb = open_model(linear(w[:, None], np.array([0.2]), head="sigmoid"), tmp_path / "m.onnx")
    nu = SIGMA
    tau = 1 / np.sqrt(1 / SIGMA**2 + 1 / nu**2)
    nodes, quad = np.polynomial.hermite_e.hermegauss(80)

    def smoothgrad(spread: float) -> np.ndarray:
        u = w @ x + 0.2 + spread * np.linalg.norm(w) * nodes
        return w * float(quad @ (_sigmoid(u) * (1 - _sigmoid(u))) / np.sqrt(2 * np.pi))

    at_tau, at_sigma = smoothgrad(tau), smoothgrad(SIGMA)
    errors, zscores = [], []
    for seed in range(10):
        result = gaussian_lime(
            bb,
            x,
            target=1,
            samples=samples,
            score="probability",
            sigma=SIGMA,
            kernel_width=nu,
            estimator=estimator,
            rng=seed,
        )
        assert result.settings["tau"] == pytest.approx(tau) and result.settings["kernel_width"] == nu
        assert 0 < result.extra["effective_samples"] < result.extra["used_samples"]
        stderr = result.extra["gradient_stderr"]
        assert np.linalg.norm(result.gradient - at_tau) <= 3 * np.sqrt((stderr**2).sum())
        errors.append(result.gradient - at_tau)
        zscores.append((result.gradient - at_tau) / stderr)
    assert 0.6 < np.std(zscores) < 1.5  # the reported standard error is the real spread
    # the average of the runs sits at SmoothGrad(tau), well away from SmoothGrad(sigma)
    assert np.linalg.norm(np.mean(errors, axis=0)) < 0.5 * np.linalg.norm(at_sigma - at_tau)


@pytest.mark.parametrize("estimator", ["ols", "stein"])
def test_tanh_mlp_matches_smoothgrad_within_the_reported_error(tmp_path, estimator: str) -> None:
    rng = np.random.default_rng(3)
    d, h = 8, 16
    w1 = rng.normal(size=(d, h)) / np.sqrt(d) * 1.5
    b1 = rng.normal(size=h) * 0.1
    w2 = rng.normal(size=h) / np.sqrt(h) * 2
    x = rng.normal(size=d) * 0.5
    bb = open_model(tanh_mlp(w1, b1, w2), tmp_path / "m.onnx")
    noise = np.random.default_rng(99).normal(size=(200_000, d)) * SIGMA
    t = np.tanh((x + noise) @ w1 + b1)
    # The analytic gradient averaged over N(x, sigma^2 I).
    smoothgrad = (((1 - t**2) * w2) @ w1.T).mean(axis=0)
    plain = ((1 - np.tanh(x @ w1 + b1) ** 2) * w2) @ w1.T
    result = gaussian_lime(
        bb, x, target=1, samples=6000, score="log_odds", estimator=estimator, sigma=SIGMA, rng=4
    )
    bound = 3 * np.sqrt((result.stderr**2).sum())
    assert np.linalg.norm(result.gradient - smoothgrad) <= bound
    assert np.linalg.norm(plain - smoothgrad) > bound  # so the test tells SmoothGrad from the plain gradient


def test_images_give_a_channel_summed_map_with_its_error(tmp_path) -> None:
    bb = open_model(conv_image((3, 6, 6), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(5).uniform(size=(3, 6, 6))
    ols = gaussian_lime(bb, x, samples=400, rng=0)
    assert ols.settings["estimator"] == "ols"
    assert ols.gradient.shape == (3, 6, 6) and ols.map.shape == ols.stderr.shape == (6, 6)
    np.testing.assert_allclose(ols.map, ols.gradient.sum(axis=0))
    assert ols.extra["gradient_stderr"].shape == (3, 6, 6)
    stein = gaussian_lime(bb, x, samples=120, rng=0)
    assert stein.settings["estimator"] == "stein" and stein.fidelity is None
    np.testing.assert_allclose(stein.map, stein.gradient.sum(axis=0))
    assert np.all(stein.stderr > 0)


@pytest.mark.parametrize(("samples", "estimator"), [(400, "ols"), (301, "stein")])
def test_gaussian_lime_sends_its_samples_in_batches(tmp_path, samples: int, estimator: str) -> None:
    bb = open_model(conv_image((1, 8, 8), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(6).uniform(size=(1, 8, 8))
    calls = bb.calls
    result = gaussian_lime(bb, x, samples=samples, estimator=estimator, rng=0)
    rows = 1 + (samples if estimator == "ols" else 2 * (samples // 2))
    assert result.queries == rows == bb.queries
    assert result.calls == bb.calls - calls == math.ceil(rows / BATCH)


def test_gaussian_lime_refuses_an_underdetermined_fit(tmp_path) -> None:
    bb = open_model(conv_image((1, 8, 8), 3), tmp_path / "m.onnx")
    with pytest.raises(ArgumentError, match="stein"):
        gaussian_lime(bb, np.zeros((1, 8, 8)), samples=50, estimator="ols")
    with pytest.raises(ArgumentError, match="positive"):
        gaussian_lime(bb, np.zeros((1, 8, 8)), samples=50, sigma=0.0)
    with pytest.raises(ArgumentError, match="kernel_width"):
        gaussian_lime(bb, np.zeros((1, 8, 8)), samples=50, kernel_width=-1.0)
