"""The knobs of an exemplar search, declared and validated once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.registry import METHODS

OBJECTIVES = ("brier", "margin")
DEFAULT_BUDGET = 20_000
DEFAULT_PATIENCE = 50


@dataclass(frozen=True, kw_only=True)
class ExemplarParams:
    """How `exemplars` searches; every field is checked when the params are built.

    - per_class: exemplars per target class; restart r of every target runs in round r.
    - method, popsize, sigma, patience: the search (see `auditor.search.make_search`); it stops once
      p_target >= `threshold`, after `patience` generations without a strict improvement, or on budget.
    - budget: classifier queries per search (one exemplar).
    - objective: "brier" (||p − onehot||², the paper's) or "margin" (max other log p − log p_target).
    - prior_penalty λ adds λ·||z||²/d to the loss.
    - min_distance: rows closer than this (latent units) to an exemplar of an earlier round are
      rejected; None: sqrt(2d)/4, a quarter of the typical distance between two N(0, I) draws.
    """

    per_class: int = 1
    method: str = "momentum_es"
    budget: int = DEFAULT_BUDGET
    objective: str = "brier"
    threshold: float = 0.95
    prior_penalty: float = 0.0
    min_distance: float | None = None
    patience: int = DEFAULT_PATIENCE
    popsize: int | None = None
    sigma: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ArgumentError(
                f"unknown exemplar search method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        if self.objective not in OBJECTIVES:
            raise ArgumentError(
                f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ArgumentError(f"threshold must be a probability in (0, 1), got {self.threshold}")
        if self.per_class < 1:
            raise ArgumentError(f"per_class must be at least 1 exemplar per class, got {self.per_class}")
        if not (np.isfinite(self.prior_penalty) and self.prior_penalty >= 0):
            raise ArgumentError(f"prior_penalty must be >= 0, got {self.prior_penalty}")
        if self.min_distance is not None and not (np.isfinite(self.min_distance) and self.min_distance >= 0):
            raise ArgumentError(f"min_distance must be >= 0, got {self.min_distance}")
