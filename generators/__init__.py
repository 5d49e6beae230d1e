"""Generator priors for the auditor: PCA (numpy + onnx) here; the torch VAE lives in generators.vae."""

from __future__ import annotations

from generators.pca import PCAFit, fit_pca, save_pca, set_metadata, to_onnx

__all__ = ["PCAFit", "fit_pca", "save_pca", "set_metadata", "to_onnx"]
