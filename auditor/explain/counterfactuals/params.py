"""The knobs of a counterfactual search, declared and validated once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.registry import METHODS

DEFAULT_BUDGET = 2500
Distance = Literal["l1", "l2"]
DISTANCES: tuple[Distance, ...] = get_args(Distance)
DEFAULT_PATIENCE = 15


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class CounterfactualParams:
    """How `counterfactuals` searches; every field is checked when the params are built.

    - method, popsize, sigma, patience: the search (see `auditor.search.make_search`; popsize None:
      64 for CMA-ES in input space, the method's default otherwise); it stops after `patience`
      generations without a 0.1 % gain in proximity, or on budget.
    - budget: classifier queries per input, all `count` counterfactuals included; never exceeded.
    - count, diversity: counterfactual j > 0 keeps an RMS distance (scale units) of at least
      `diversity` times the first one's distance from x away from every earlier one.
    - distance: "l1" or "l2" proximity; kappa: least log-margin of the target; tau: least p_target.
    - residual, beta, inversion_budget (with a generator): x + G(z) − G(z0) instead of G(z); weight of
      ||z − z0||²; generator queries for a zero-order inversion of x when there is no encoder.
    - sparse, sparsity, cell (input space): run the sparse pass; with distance "l1", each changed
      feature (image: cell of `cell` pixels, default about 1/8 of the side) costs `sparsity` scale units.
    """

    method: str = "cmaes"
    budget: int = DEFAULT_BUDGET
    count: int = 1
    distance: Distance = "l1"
    kappa: float = 0.0
    tau: float = 0.0
    residual: bool = False
    beta: float = 0.01
    sigma: float | None = None
    popsize: int | None = None
    patience: int = DEFAULT_PATIENCE
    sparse: bool = True
    sparsity: float = 3.0
    cell: int | None = None
    inversion_budget: int = 2000
    diversity: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ArgumentError(
                f"unknown counterfactual search method {self.method!r}; use one of {', '.join(METHODS)}"
            )
        if self.distance not in DISTANCES:
            raise ArgumentError(f"distance must be 'l1' or 'l2', got {self.distance!r}")
        _check_count("budget", self.budget)
        _check_count("count", self.count)
        _check_count("patience", self.patience)
        _check_count("inversion_budget", self.inversion_budget)
        if self.popsize is not None and self.popsize < 2:
            raise ArgumentError(f"popsize must be at least 2, got {self.popsize}")
        for name, value in (
            ("kappa", self.kappa),
            ("beta", self.beta),
            ("diversity", self.diversity),
            ("sparsity", self.sparsity),
        ):
            if not (np.isfinite(value) and value >= 0):
                raise ArgumentError(f"{name} must be a finite number >= 0, got {value}")
        if not 0 <= self.tau < 1:
            raise ArgumentError(f"tau must be in [0, 1), got {self.tau}")
        if self.sigma is not None and not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ArgumentError(f"sigma must be a finite number > 0, got {self.sigma}")

    @property
    def proximity_weight(self) -> float:
        """Scale units each changed unit costs in input space (0 unless sparse l1)."""
        return self.sparsity if self.sparse and self.distance == "l1" else 0.0
