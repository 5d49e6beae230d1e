"""onnx-auditor: audit black-box ONNX classifiers without their code, data or gradients."""

from __future__ import annotations

import os
import sys

# The model is the cost; numpy's own linear algebra (CMA-ES updates, ridge fits) is small and, with a
# multi-threaded BLAS on a shared 2-core runner, fights ONNX Runtime for the cores (measured: full
# CMA-ES ask/tell 8 ms -> 600 ms per generation at d=512). One BLAS thread unless the user says otherwise.
_USER_SET_BLAS = "OPENBLAS_NUM_THREADS" in os.environ
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _one_loaded_openblas_thread() -> None:
    """When numpy was imported before us, its OpenBLAS already started its threads and ignores the variable
    above: set its thread count through its own call (Linux, OpenBLAS only; nothing elsewhere). Measured
    with a 9-load on 2 cores: a 64 x 64 eigh 220 ms -> 7 ms, a 200 x 300 x 50,176 product 9.7 s -> 2.3 s."""
    import ctypes  # here: only when numpy came first

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()}
    except OSError:
        return
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            setter = getattr(library, symbol, None)
            if setter is not None:
                setter(1)
                break


if "numpy" in sys.modules and not _USER_SET_BLAS and sys.platform == "linux":
    _one_loaded_openblas_thread()

__version__ = "0.1.0"
