"""Shared fixtures: the repository root and the bundled sample models."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_models"
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def digits_dir() -> Path:
    path = SAMPLES / "digits"
    if not (path / "classifier.onnx").exists():
        pytest.skip("sample_models/digits is not built")
    return path


@pytest.fixture(scope="session")
def tabular_dir() -> Path:
    path = SAMPLES / "tabular"
    if not (path / "classifier.onnx").exists():
        pytest.skip("sample_models/tabular is not built")
    return path


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ModuleType]:
    """One local Ray cluster for the whole session (2 CPUs, no dashboard); the executor joins it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
