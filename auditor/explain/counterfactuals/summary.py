"""Aggregates of many counterfactual results: validity rate and the medians the audit reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.explain.counterfactuals.results import CounterfactualResult
from auditor.jsonable import jsonable


@dataclass(frozen=True)
class CounterfactualSummary:
    """Aggregates over many inputs; distances, sparsity and realism are medians over valid counterfactuals."""

    inputs: int
    counterfactuals: int
    validity_rate: float
    median_l1: float
    median_l2: float
    median_l1_scaled: float
    median_changed: float
    median_realism: float
    median_queries: float
    median_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, under the names the audit report uses (`validity` is the validity rate; NaN -> None)."""
        return jsonable(
            {
                "inputs": self.inputs,
                "counterfactuals": self.counterfactuals,
                "validity": self.validity_rate,
                "median_l1": self.median_l1,
                "median_l2": self.median_l2,
                "median_l1_scaled": self.median_l1_scaled,
                "median_changed": self.median_changed,
                "median_realism": self.median_realism,
                "median_queries": self.median_queries,
                "median_seconds": self.median_seconds,
            }
        )


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def summarize(results: Sequence[CounterfactualResult]) -> CounterfactualSummary:
    """Validity rate over every counterfactual; medians of the valid ones' figures; per-input cost medians."""
    if not results:
        nan = float("nan")
        return CounterfactualSummary(0, 0, nan, nan, nan, nan, nan, nan, nan, nan)
    valid = np.concatenate([r.valid for r in results])

    def pooled(name: str) -> np.ndarray:
        values = np.concatenate([np.asarray(getattr(r, name), dtype=np.float64) for r in results])
        return values[valid]

    return CounterfactualSummary(
        inputs=len(results),
        counterfactuals=int(valid.size),
        validity_rate=float(valid.mean()) if valid.size else float("nan"),
        median_l1=_median(pooled("l1")),
        median_l2=_median(pooled("l2")),
        median_l1_scaled=_median(pooled("l1_scaled")),
        median_changed=_median(pooled("changed")),
        median_realism=_median(pooled("realism")),
        median_queries=float(np.median([r.queries for r in results])),
        median_seconds=float(np.median([r.seconds for r in results])),
    )
