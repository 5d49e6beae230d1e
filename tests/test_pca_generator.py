"""Specification of generators.pca: a PCA prior written as ONNX generator and encoder graphs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from generators.pca import fit_pca, save_pca, to_onnx

RANK = 4
DIM = 12


def _low_rank(n: int, seed: int = 0) -> np.ndarray:
    """Rank-RANK data in DIM dimensions with distinct variances and a non-zero mean."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIM, RANK)))[0].T
    coeffs = rng.normal(size=(n, RANK)) * np.array([5.0, 3.0, 2.0, 1.0])
    return coeffs @ basis + rng.normal(size=DIM) * 3


def _run(model: onnx.ModelProto, name: str, value: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {name: value.astype(np.float32)})[0]


@pytest.mark.parametrize("standardize", [False, True])
def test_encode_inverts_generate(standardize: bool) -> None:
    generator, encoder = to_onnx(fit_pca(_low_rank(500), RANK, standardize=standardize))
    z = np.random.default_rng(1).normal(size=(64, RANK)).astype(np.float32)
    np.testing.assert_allclose(_run(encoder, "x", _run(generator, "z", z)), z, atol=1e-4)


@pytest.mark.parametrize(("latent", "standardize"), [(RANK, False), (RANK + 2, False), (RANK, True)])
def test_generate_after_encode_reconstructs_rank_r_data(latent: int, standardize: bool) -> None:
    X = _low_rank(300)
    generator, encoder = to_onnx(fit_pca(X, latent, standardize=standardize))
    x = X[:50].astype(np.float32)
    np.testing.assert_allclose(_run(generator, "z", _run(encoder, "x", x)), x, atol=1e-3)


@pytest.mark.parametrize("standardize", [False, True])
def test_prior_samples_match_data_mean_and_covariance(standardize: bool) -> None:
    X = _low_rank(4000, seed=2)
    generator, _ = to_onnx(fit_pca(X, RANK, standardize=standardize))
    samples = _run(generator, "z", np.random.default_rng(3).normal(size=(20000, RANK)))
    scale = np.sqrt(np.diag(np.cov(X, rowvar=False))).max()
    np.testing.assert_allclose(samples.mean(axis=0), X.mean(axis=0), atol=0.05 * scale)
    np.testing.assert_allclose(np.cov(samples, rowvar=False), np.cov(X, rowvar=False), atol=0.05 * scale**2)


def test_standardized_fit_ignores_feature_units() -> None:
    X = _low_rank(300)
    units = np.logspace(-3, 3, DIM)
    _, encoder = to_onnx(fit_pca(X, RANK, standardize=True))
    _, rescaled = to_onnx(fit_pca(X * units, RANK, standardize=True))
    np.testing.assert_allclose(_run(rescaled, "x", X[:20] * units), _run(encoder, "x", X[:20]), atol=1e-3)


def test_image_shaped_data_keeps_its_shape() -> None:
    X = _low_rank(200).reshape(200, 1, 3, 4)
    generator, encoder = to_onnx(fit_pca(X, RANK))
    x = _run(generator, "z", np.zeros((5, RANK)))
    assert x.shape == (5, 1, 3, 4)
    assert _run(encoder, "x", X[:7]).shape == (7, RANK)
    assert generator.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_generator_clips_into_bounds() -> None:
    X = _low_rank(300)
    lower, upper = X.min(axis=0), X.max(axis=0)
    generator, _ = to_onnx(fit_pca(X, RANK, lower=lower, upper=upper))
    x = _run(generator, "z", np.random.default_rng(4).normal(size=(1000, RANK)) * 10)
    assert np.all(x >= lower.astype(np.float32)) and np.all(x <= upper.astype(np.float32))


def test_fit_is_deterministic_with_fixed_signs() -> None:
    X = _low_rank(300)
    first, second = fit_pca(X, RANK), fit_pca(X[::-1].copy(), RANK)
    np.testing.assert_allclose(first.components, second.components, atol=1e-10)
    pivots = first.components[np.arange(RANK), np.abs(first.components).argmax(axis=1)]
    assert np.all(pivots > 0)
    np.testing.assert_allclose(first.explained_variance_ratio.sum(), 1.0)


def test_metadata_and_versions(tmp_path) -> None:
    fit = save_pca(_low_rank(100), 3, tmp_path / "g.onnx", tmp_path / "e.onnx")
    for path, kind in [("g.onnx", "generator"), ("e.onnx", "encoder")]:
        model = onnx.load(tmp_path / path)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta == {
            "auditor.kind": kind,
            "auditor.prior": "normal",
            "auditor.latent_dim": "3",
            "auditor.method": "pca",
        }
        assert model.opset_import[0].version == 17 and model.ir_version in (8, 9)
    assert fit.latent == 3 and fit.data_shape == (DIM,)


@pytest.mark.parametrize(
    ("X", "latent", "kwargs"),
    [
        (np.zeros((10, 3)), 1, {}),
        (np.ones((1, 3)), 1, {}),
        (np.eye(3), 4, {}),
        (np.eye(3), 0, {}),
        (np.eye(3), 1, {"lower": np.zeros(2)}),
        (np.eye(3), 1, {"lower": 1.0, "upper": 0.0}),
    ],
)
def test_rejects_bad_input(X: np.ndarray, latent: int, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        fit_pca(X, latent, **kwargs)
