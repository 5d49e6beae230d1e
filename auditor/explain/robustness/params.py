"""The settings of a robustness search, declared once: methods, norms and their knobs, validated on creation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditor.errors import ArgumentError

METHODS = ("auto", "square", "hopskipjump")
NORMS = ("linf", "l2")
DEFAULT_BUDGET = 2000
MIN_BUDGET = 10
SQUARE_CANDIDATES = {"linf": 4, "l2": 8}
SQUARE_STAGE_QUERIES = {"linf": 200, "l2": 300}

Method = Literal["auto", "square", "hopskipjump"]
Norm = Literal["linf", "l2"]


@dataclass(frozen=True, kw_only=True)
class RobustnessParams:
    """How to search each input's smallest flipping perturbation.

    - method: "square" (scores: Square Attack random search inside a bisection on ε), "hopskipjump"
      (labels only: boundary walk), "auto" (square for L∞ when the model gives scores and
      `labels_only` is off; hopskipjump otherwise, which on the digits CNN found closer L2 radii
      than Square's L2 variant).
    - norm, budget: the perturbation norm; classifier queries per input, its own prediction included,
      never exceeded.
    - labels_only: read only the predicted label even when the model returns scores.
    - Square: `candidates` rows per input per model call (None: 4 for L∞, 8 for L2), `p_init` (share of
      the features a window covers at the start of the schedule), `stage_queries` (queries spent at one ε
      before it counts as too small; None: 200 for L∞, 300 for L2), `start_radius` (first ε; None: a quarter of the data box's width in the norm),
      `tolerance` (stop once the found radius is within this share of the largest failed ε; HopSkipJump:
      once the radius gains less than this share over a few iterations, past half the budget).
    - HopSkipJump: `starts` (the nearest reference row of each of the `starts` nearest other labels is
      bisected to the boundary, the closest kept),
      `probes`/`max_probes` (label probes per gradient estimate at iteration 1, growing with √t,
      capped), `bisections` (steps of each binary search to the boundary; None: from the dimension).
    - curve_points: points of the accuracy-against-ε curve.
    """

    method: Method = "auto"
    norm: Norm = "linf"
    budget: int = DEFAULT_BUDGET
    labels_only: bool = False
    candidates: int | None = None
    p_init: float | None = None
    stage_queries: int | None = None
    start_radius: float | None = None
    tolerance: float = 0.01
    starts: int = 1
    probes: int = 40
    max_probes: int = 200
    bisections: int | None = None
    curve_points: int = 21

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ArgumentError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.norm not in NORMS:
            raise ArgumentError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        for name in ("budget", "candidates", "stage_queries", "starts", "probes", "max_probes"):
            value = getattr(self, name)
            if value is None and name in ("candidates", "stage_queries"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
        if self.budget < MIN_BUDGET:
            raise ArgumentError(f"budget must be at least {MIN_BUDGET} queries per input, got {self.budget}")
        if self.curve_points < 2:
            raise ArgumentError(f"curve_points must be at least 2, got {self.curve_points}")
        if self.bisections is not None and not 1 <= self.bisections <= 40:
            raise ArgumentError(f"bisections must be in 1..40, got {self.bisections}")
        if self.p_init is not None and not 0 < self.p_init <= 1:
            raise ArgumentError(f"p_init must be in (0, 1], got {self.p_init}")
        if not 0 < self.tolerance < 1:
            raise ArgumentError(f"tolerance must be in (0, 1), got {self.tolerance}")
        if self.start_radius is not None and not self.start_radius > 0:
            raise ArgumentError(f"start_radius must be > 0, got {self.start_radius}")

    @property
    def square_candidates(self) -> int:
        """Square proposals per input per model call: L2 updates move two windows and rescale, a larger
        batch keeps the Python share of the wall time under 15 % on the digits CNN (measured)."""
        return self.candidates or SQUARE_CANDIDATES[self.norm]

    @property
    def square_stage_queries(self) -> int:
        """Queries Square spends at one ε before counting it as too small."""
        return self.stage_queries or SQUARE_STAGE_QUERIES[self.norm]

    def resolved_method(self, hard_label: bool) -> Literal["square", "hopskipjump"]:
        """The method that runs on a model that does (not) return scores; square needs scores."""
        labels = hard_label or self.labels_only
        if self.method == "auto":  # L2: the boundary walk measured closer radii than Square's L2 variant
            return "square" if not labels and self.norm == "linf" else "hopskipjump"
        if self.method == "square" and labels:
            raise ArgumentError(
                "the square search needs class scores; this model returns only labels (or labels_only is set): "
                "use method 'hopskipjump'"
            )
        return self.method
