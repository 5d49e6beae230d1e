"""A linear-Gaussian (PCA) generator prior, fitted with numpy and written as a pair of ONNX graphs.

The generator maps z ~ N(0, I) to x = mean + ((z * scales) @ components) * feature_std, so its samples
have the data's mean and (rank-`latent`) covariance; the encoder is its left inverse on the principal
subspace. feature_std is 1 unless the fit standardises the features first, which features measured in
different units (tables) need: otherwise the few largest-variance features take every component.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
# Scales below this fraction of the largest are floored, so the encoder never divides by zero.
MIN_RELATIVE_SCALE = 1e-6


@dataclass(frozen=True, eq=False)
class PCAFit:
    """A fitted PCA prior: mean, unit-norm components (latent, D) and their standard deviations (scales).

    Components live in the space of (x - mean) / feature_std; feature_std is all ones without standardising.
    """

    mean: np.ndarray
    components: np.ndarray
    scales: np.ndarray
    explained_variance_ratio: np.ndarray
    data_shape: tuple[int, ...]
    feature_std: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    @property
    def latent(self) -> int:
        """Number of latent dimensions."""
        return int(self.components.shape[0])


def fit_pca(
    X: np.ndarray,
    latent: int,
    lower: np.ndarray | float | None = None,
    upper: np.ndarray | float | None = None,
    standardize: bool = False,
) -> PCAFit:
    """Fit PCA on rows of X (n, *data_shape) by an SVD in float64.

    lower/upper (scalars or one value per feature) make the generator clip its output; standardize
    fits on features scaled to unit variance (constant features are left unscaled).
    """
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[0] < 2:
        raise ValueError(f"X must hold at least 2 samples along axis 0, got shape {X.shape}")
    flat = X.reshape(X.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(flat)):
        raise ValueError("X contains NaN or infinite values")
    n, dim = flat.shape
    if not 1 <= latent <= min(n, dim):
        raise ValueError(f"latent must be in [1, {min(n, dim)}] for data of shape {X.shape}, got {latent}")
    mean = flat.mean(axis=0)
    feature_std = _feature_std(flat) if standardize else np.ones(dim)
    _, singular, vt = np.linalg.svd((flat - mean) / feature_std, full_matrices=False)
    components = _fix_signs(vt[:latent])
    variance = singular**2 / (n - 1)
    if variance[0] == 0:
        raise ValueError("X has no variance: all samples are equal")
    scales = np.maximum(np.sqrt(variance[:latent]), MIN_RELATIVE_SCALE * np.sqrt(variance[0]))
    low, high = _bounds(lower, dim, "lower"), _bounds(upper, dim, "upper")
    if low is not None and high is not None and np.any(low > high):
        raise ValueError("lower must not exceed upper for any feature")
    return PCAFit(
        mean=mean,
        components=components,
        scales=scales,
        explained_variance_ratio=variance[:latent] / variance.sum(),
        data_shape=tuple(X.shape[1:]),
        feature_std=feature_std,
        lower=low,
        upper=high,
    )


def _feature_std(flat: np.ndarray) -> np.ndarray:
    """Per-feature sample standard deviation, with 1 for constant features."""
    std = flat.std(axis=0, ddof=1)
    return np.where(std > 0, std, 1.0)


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip each component so that its largest-magnitude entry is positive (a deterministic sign)."""
    pivots = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    return components * np.where(pivots < 0, -1.0, 1.0)[:, None]


def _bounds(value: np.ndarray | float | None, dim: int, name: str) -> np.ndarray | None:
    """Broadcast a scalar or per-feature bound to a flat (D,) float64 vector."""
    if value is None:
        return None
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.size == 1:
        flat = np.full(dim, flat[0])
    if flat.size != dim:
        raise ValueError(f"{name} must be a scalar or hold {dim} values, got {flat.size}")
    return flat


def to_onnx(fit: PCAFit) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """Build (generator, encoder) ONNX models for a PCA fit; both are checked with onnx.checker."""
    generator = _model(_generator_graph(fit), "generator", fit.latent)
    encoder = _model(_encoder_graph(fit), "encoder", fit.latent)
    return generator, encoder


def _tensor(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name=name)


def _generator_graph(fit: PCAFit) -> onnx.GraphProto:
    """z (N, latent) -> Gemm with scaled components + mean -> optional Max/Min -> reshape to data shape."""
    weights = (fit.scales[:, None] * fit.components * fit.feature_std[None, :]).astype(np.float32)
    initializers = [_tensor("weights", weights), _tensor("mean", fit.mean.astype(np.float32))]
    nodes = [helper.make_node("Gemm", ["z", "weights", "mean"], ["flat"])]
    flat = "flat"
    if fit.lower is not None:
        initializers.append(_tensor("lower", fit.lower.astype(np.float32)))
        nodes.append(helper.make_node("Max", [flat, "lower"], ["above_lower"]))
        flat = "above_lower"
    if fit.upper is not None:
        initializers.append(_tensor("upper", fit.upper.astype(np.float32)))
        nodes.append(helper.make_node("Min", [flat, "upper"], ["below_upper"]))
        flat = "below_upper"
    if len(fit.data_shape) == 1:
        nodes.append(helper.make_node("Identity", [flat], ["x"]))
    else:
        initializers.append(_tensor("shape", np.array([-1, *fit.data_shape], dtype=np.int64)))
        nodes.append(helper.make_node("Reshape", [flat, "shape"], ["x"]))
    return helper.make_graph(
        nodes,
        "pca_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", fit.latent])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *fit.data_shape])],
        initializers,
    )


def _encoder_graph(fit: PCAFit) -> onnx.GraphProto:
    """x (N, *data_shape) -> flatten -> subtract mean -> project on components (scaled by both stds)."""
    projection = (fit.components.T / fit.feature_std[:, None] / fit.scales[None, :]).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("Sub", ["flat", "mean"], ["centred"]),
        helper.make_node("MatMul", ["centred", "projection"], ["z"]),
    ]
    return helper.make_graph(
        nodes,
        "pca_encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *fit.data_shape])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", fit.latent])],
        [_tensor("mean", fit.mean.astype(np.float32)), _tensor("projection", projection)],
    )


def _model(graph: onnx.GraphProto, kind: str, latent: int) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="onnx-auditor",
        doc_string=f"PCA {kind} (linear-Gaussian prior, latent {latent})",
    )
    model.ir_version = IR_VERSION
    set_metadata(model, kind, latent, "pca")
    onnx.checker.check_model(model, full_check=True)
    return model


def set_metadata(model: onnx.ModelProto, kind: str, latent: int, method: str) -> None:
    """Write the auditor.* metadata keys that mark a model as a generator or encoder of a N(0, I) prior."""
    values = {
        "auditor.kind": kind,
        "auditor.prior": "normal",
        "auditor.latent_dim": str(latent),
        "auditor.method": method,
    }
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)


def save_pca(
    X: np.ndarray,
    latent: int,
    generator_path: str | Path,
    encoder_path: str | Path,
    lower: np.ndarray | float | None = None,
    upper: np.ndarray | float | None = None,
    standardize: bool = False,
) -> PCAFit:
    """Fit a PCA prior on X and write its generator and encoder as self-contained ONNX files."""
    fit = fit_pca(X, latent, lower=lower, upper=upper, standardize=standardize)
    generator, encoder = to_onnx(fit)
    onnx.save_model(generator, str(generator_path))
    onnx.save_model(encoder, str(encoder_path))
    return fit
