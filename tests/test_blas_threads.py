"""One BLAS thread (auditor/__init__.py) even when numpy was imported first, unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, numpy, auditor
paths = {l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.rsplit('/', 1)[-1].lower()}
library = ctypes.CDLL(sorted(paths)[0]) if paths else None
getter = None
for name in ('scipy_openblas_get_num_threads64_', 'scipy_openblas_get_num_threads',
             'openblas_get_num_threads64_', 'openblas_get_num_threads'):
    getter = getter or (getattr(library, name, None) if library is not None else None)
print(getter() if getter is not None else 'none')
"""


def threads(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(
    sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="OpenBLAS on Linux, 2+ cores"
)
def test_numpy_imported_first_still_gets_one_blas_thread() -> None:
    found = threads()
    if found == "none":
        pytest.skip("numpy is not linked to OpenBLAS here")
    assert found == "1"
    assert threads(OPENBLAS_NUM_THREADS="2") == "2"  # the user's choice stands
