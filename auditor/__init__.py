"""onnx-auditor: audit black-box ONNX classifiers without their code, data or gradients."""

from __future__ import annotations

import os

# The model is the cost; numpy's own linear algebra (CMA-ES updates, ridge fits) is small and, with a
# multi-threaded BLAS on a shared 2-core runner, fights ONNX Runtime for the cores (measured: full
# CMA-ES ask/tell 8 ms -> 600 ms per generation at d=512). One BLAS thread unless the user says otherwise.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
