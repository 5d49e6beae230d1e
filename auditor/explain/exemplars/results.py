"""What `exemplars` returns: each search's best row, grouped per class, with the run's totals; and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.jsonable import jsonable
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.search import Generation, StopReason


@dataclass(frozen=True, eq=False)
class Exemplar:
    """One search's best row: its latent vector, the classifier input it decodes to, and its scores.

    `latent` is the search vector: a generator latent, or standardized features without a generator.
    `input` is the row as sent to the classifier (its layout); `success` means p_target >= threshold
    and at least `min_distance` from the earlier exemplars of the same target.
    """

    target: int
    target_name: str
    restart: int
    latent: np.ndarray
    input: np.ndarray
    probabilities: np.ndarray
    confidence: float
    success: bool
    queries: int
    seconds: float
    stop_reason: StopReason
    first_success_queries: int | None
    history: tuple[Generation, ...]

    def to_dict(self, *, with_input: bool = True) -> dict[str, Any]:
        """JSON-ready (NaN becomes None); `input` (the flattened row) only `with_input`."""
        out: dict[str, Any] = {
            "target": self.target,
            "target_name": self.target_name,
            "restart": self.restart,
            "confidence": jsonable(self.confidence),
            "success": self.success,
            "queries": self.queries,
            "seconds": jsonable(self.seconds),
            "latent": jsonable(self.latent),
            "probabilities": jsonable(self.probabilities),
            "stop_reason": self.stop_reason,
            "first_success_queries": self.first_success_queries,
        }
        if with_input:
            out["input"] = jsonable(np.ravel(self.input))
        return out


@dataclass(frozen=True, eq=False)
class ClassExemplars:
    """The exemplars of one target class and how far apart they lie in latent space."""

    target: int
    target_name: str
    exemplars: tuple[Exemplar, ...]
    mean_distance: float  # mean pairwise latent distance (NaN with fewer than two exemplars)
    min_distance: float

    @property
    def latent(self) -> np.ndarray:
        return np.stack([exemplar.latent for exemplar in self.exemplars])

    @property
    def inputs(self) -> np.ndarray:
        return np.stack([exemplar.input for exemplar in self.exemplars])

    @property
    def probabilities(self) -> np.ndarray:
        return np.stack([exemplar.probabilities for exemplar in self.exemplars])

    @property
    def confidence(self) -> np.ndarray:
        return np.array([exemplar.confidence for exemplar in self.exemplars])

    @property
    def queries(self) -> int:
        return sum(exemplar.queries for exemplar in self.exemplars)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready per-class figures (NaN becomes None); the exemplars themselves are listed by
        `ExemplarSet.to_dict`. `median_queries_to_reach` is over the successful searches."""
        reached = [
            exemplar.first_success_queries
            for exemplar in self.exemplars
            if exemplar.success and exemplar.first_success_queries is not None
        ]
        return {
            "target": self.target,
            "target_name": self.target_name,
            "queries": self.queries,
            "mean_distance": jsonable(self.mean_distance),
            "min_distance": jsonable(self.min_distance),
            "best_confidence": jsonable(self.confidence.max()),
            "found": sum(exemplar.success for exemplar in self.exemplars),
            "searches": len(self.exemplars),
            "median_queries_to_reach": float(np.median(reached)) if reached else None,
            "stop_reasons": sorted({exemplar.stop_reason for exemplar in self.exemplars}),
        }


@dataclass(frozen=True, eq=False)
class ExemplarSet:
    """Exemplars for several targets, with the totals of the whole run.

    `queries` counts the classifier rows the searches scored (all new rows: the row cache is bypassed),
    `calls` classifier ONNX Runtime runs, `ort_seconds` the time inside ONNX Runtime (classifier plus
    generator) out of `seconds` of wall time. `layout` is the classifier's input layout.
    """

    method: str
    objective: str
    threshold: float
    budget: int
    space: str  # "latent", "input", or an image basis's name such as "dct-8x8"
    classes: tuple[ClassExemplars, ...]
    queries: int
    generator_queries: int
    calls: int
    seconds: float
    ort_seconds: float
    layout: str

    @property
    def success(self) -> bool:
        return all(exemplar.success for found in self.classes for exemplar in found.exemplars)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the run's figures, `classes` (per-class figures) and `exemplars` (every search's
        best row; its flattened `input` only when the rows are not images). The CLI adds seed, model
        hash and picture paths."""
        with_input = self.layout not in IMAGE_LAYOUTS
        return {
            "method": self.method,
            "objective": self.objective,
            "threshold": self.threshold,
            "budget": self.budget,
            "space": self.space,
            "success": self.success,
            "queries": self.queries,
            "generator_queries": self.generator_queries,
            "calls": self.calls,
            "seconds": self.seconds,
            "ort_seconds": self.ort_seconds,
            "classes": [found.to_dict() for found in self.classes],
            "exemplars": [
                exemplar.to_dict(with_input=with_input)
                for found in self.classes
                for exemplar in found.exemplars
            ],
        }
