"""What `counterfactuals` returns per input, and its JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.jsonable import jsonable
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.search import StopReason


@dataclass(frozen=True, eq=False)
class CounterfactualResult:
    """k counterfactuals for one input, with their figures; `valid` says which flip the class (to the
    target, with margin κ and p_t ≥ τ when asked, and apart from the input's earlier counterfactuals).

    Distances: `l1`, `l2` in input units; `l1_scaled` divides each feature by its scale (MAD for
    tables). `changed` counts features moved by more than 1e-3 of their range. `realism` is the
    nearest-reference distance over the data's typical one (NaN without reference rows);
    `reconstruction` the RMS of x' − G(E(x')) in scale units (NaN without generator and encoder);
    `z0_error` the RMS of G(z0) − x for latent searches. `queries` counts classifier rows for this
    input (its own prediction included), `generator_queries` the generator and encoder rows;
    `seconds` is its share of the batched call's wall time. `class_names` and `layout` are the
    model's, so that the result can name its classes and say whether its rows are images.
    """

    x: np.ndarray
    counterfactuals: np.ndarray
    valid: np.ndarray
    source: int
    targets: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    l1_scaled: np.ndarray
    changed: np.ndarray
    realism: np.ndarray
    reconstruction: np.ndarray
    latent: np.ndarray | None
    z0_error: float | None
    space: str  # "input", "latent", or an image basis's name such as "dct-8x8"
    method: str
    queries: int
    generator_queries: int
    seconds: float
    stop_reasons: tuple[StopReason, ...]
    class_names: tuple[str, ...]
    layout: str

    @property
    def target(self) -> int:
        """The class the first counterfactual aims at (for "any": the class it reached or came closest to)."""
        return int(self.targets[0])

    @property
    def found(self) -> bool:
        """True when at least one counterfactual is valid."""
        return bool(self.valid.any())

    def changes(self, rank: int, feature_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The features counterfactual `rank` changed: index, name (x<i> without one name per feature), old
        and new value."""
        before, after = np.ravel(self.x), np.ravel(self.counterfactuals[rank])
        names = feature_names if feature_names is not None and len(feature_names) == before.size else None
        return [
            {
                "feature": feature,
                "name": names[feature] if names else f"x{feature}",
                "from": jsonable(before[feature]),
                "to": jsonable(after[feature]),
            }
            for feature in np.flatnonzero(before != after).tolist()
        ]

    def to_dict(self, feature_names: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-ready (NaN becomes None): the input's figures and one entry per counterfactual under
        "counterfactuals" (with "changes" when the rows are not images)."""
        return {
            **self._input_fields(),
            "counterfactuals": [self._own_fields(rank, feature_names) for rank in range(len(self.valid))],
        }

    def entries(self, feature_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One flat JSON entry per counterfactual, the input's figures repeated in each: the entries of
        `auditor counterfactual`'s counterfactuals.json (the caller adds "index" and, for images, "image")."""
        shared = self._input_fields()
        return [{**shared, **self._own_fields(rank, feature_names)} for rank in range(len(self.valid))]

    def _input_fields(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_name": self.class_names[self.source],
            "queries": self.queries,
            "generator_queries": self.generator_queries,
            "z0_error": jsonable(self.z0_error),
            "space": self.space,
            "method": self.method,
            "seconds": jsonable(self.seconds),
        }

    def _own_fields(self, rank: int, feature_names: Sequence[str] | None) -> dict[str, Any]:
        target = int(self.targets[rank])
        fields: dict[str, Any] = {
            "rank": rank,
            "target": target,
            "target_name": self.class_names[target],
            "valid": bool(self.valid[rank]),
            "confidence": jsonable(self.confidence[rank]),
            "l1": jsonable(self.l1[rank]),
            "l2": jsonable(self.l2[rank]),
            "l1_scaled": jsonable(self.l1_scaled[rank]),
            "changed": int(self.changed[rank]),
            "realism": jsonable(self.realism[rank]),
            "reconstruction": jsonable(self.reconstruction[rank]),
            "stop_reason": self.stop_reasons[rank],
            "probabilities": jsonable(self.probabilities[rank]),
        }
        if self.layout not in IMAGE_LAYOUTS:
            fields["changes"] = self.changes(rank, feature_names)
        return fields
