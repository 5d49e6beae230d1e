"""The settings of a robustness search, declared once: methods, norms and their knobs, validated on creation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from auditor.errors import ArgumentError
from auditor.search import canonical_method

EVOLUTION = ("momentum_es", "es", "cmaes")  # our zero-order searches (auditor.search) on the margin loss
METHODS = ("auto", "square", "hopskipjump", *EVOLUTION)
SCORES = ("square", *EVOLUTION)  # the methods that read class scores
NORMS = ("linf", "l2")
DEFAULT_BUDGET = 2000
MIN_BUDGET = 10
SQUARE_CANDIDATES = {"linf": 4, "l2": 8}
SQUARE_STAGE_QUERIES = {"linf": 200, "l2": 300}
POPULATION = 16  # rows per generation of the evolution strategies
EVOLUTION_STAGE_QUERIES = 320

Method = Literal["auto", "square", "hopskipjump", "momentum_es", "es", "cmaes"]
Norm = Literal["linf", "l2"]


@dataclass(frozen=True, kw_only=True)
class RobustnessParams:
    """How to search each input's smallest flipping perturbation.

    - method: "square" (scores: Square Attack random search inside a bisection on ε), "hopskipjump"
      (labels only: boundary walk), "auto" (square for L∞ when the model gives scores and
      `labels_only` is off; hopskipjump otherwise, which on the digits CNN found closer L2 radii
      than Square's L2 variant); "momentum_es" (alias "es") or "cmaes" (scores: our evolution strategies
      on the margin loss inside the same bisection on ε).
    - norm, budget: the perturbation norm; classifier queries per input, its own prediction included,
      never exceeded.
    - labels_only: read only the predicted label even when the model returns scores.
    - Square and the evolution strategies: `candidates` rows per input per model call (None: Square 4 for
      L∞, 8 for L2; ES population 16), `p_init` (Square: share of the features a window covers at the start
      of the schedule), `stage_queries` (queries spent at one ε before it counts as too small; None: Square
      200 for L∞, 300 for L2; ES 320), `start_radius` (first ε; None: a quarter of the data box's width in the norm),
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

    def rows_per_call(self, method: str) -> int:
        """Rows per input per model call of a score-based search: `candidates`, else Square's per norm (its L2
        batch of 8 keeps the Python share of the wall time under 15 % on the digits CNN, measured) or the
        evolution strategies' population."""
        if self.candidates:
            return self.candidates
        return SQUARE_CANDIDATES[self.norm] if method == "square" else POPULATION

    def stage_budget(self, method: str) -> int:
        """Queries a score-based search spends at one ε before counting it as too small."""
        if self.stage_queries:
            return self.stage_queries
        return SQUARE_STAGE_QUERIES[self.norm] if method == "square" else EVOLUTION_STAGE_QUERIES

    def resolved_method(self, hard_label: bool) -> str:
        """The method that runs (own name: "es" is "momentum_es") on a model that does (not) return scores;
        all but hopskipjump need scores."""
        labels = hard_label or self.labels_only
        if self.method == "auto":  # L2: the boundary walk measured closer radii than Square's L2 variant
            return "square" if not labels and self.norm == "linf" else "hopskipjump"
        if self.method in SCORES and labels:
            raise ArgumentError(
                f"the {self.method} search needs class scores; this model returns only labels (or labels_only "
                "is set): use method 'hopskipjump'"
            )
        return canonical_method(self.method) if self.method in EVOLUTION else self.method
