"""onnx-auditor: audit black-box ONNX classifiers without their code, data or gradients."""

from __future__ import annotations

__version__ = "0.1.0"
