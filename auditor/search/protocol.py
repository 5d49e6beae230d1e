"""The ask/tell contract between a search and its caller, and what a run of one returns.

A search proposes a population (`Search.ask`), the caller scores it as ONE batch into an
`Evaluation`, and the search learns from the losses (`Search.tell`). A `StopRule` says when the
driver (`auditor.search.driver`) ends a run; a `SearchResult` is what the run leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from auditor.errors import ArgumentError

StopReason = Literal["target_reached", "budget", "no_improvement", "all_nonfinite"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What an objective returns for n rows: loss (lower is better), success flags, extras.

    Non-finite losses count as +inf and such rows never count as successes. `extra` holds
    optional per-row arrays (e.g. probabilities); the best row's entries are kept.
    """

    loss: np.ndarray
    success: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


Objective = Callable[[np.ndarray], Evaluation]
"""Scores one search's rows (n, dim)."""

ObjectiveMany = Callable[[list[np.ndarray], Sequence[int]], list[Evaluation]]
"""Scores several searches' rows at once: `(asks, owners)`, where `owners[i]` is the index (in the
list given to `minimize_lockstep`) of the search that asked `asks[i]`; one Evaluation per ask."""


class Search(Protocol):
    """Ask/tell search; its randomness comes only from the Generator given at construction.

    `ask` returns only rows that need evaluating (cached elites are not asked again); `tell`
    pairs with the latest `ask`.
    """

    dim: int

    def ask(self) -> np.ndarray: ...

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None: ...


@dataclass(frozen=True)
class Generation:
    """One history row: best loss so far, this generation's median loss, cumulative queries."""

    index: int
    best_loss: float
    median_loss: float
    queries: int
    nonfinite: int


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Outcome of one search: the best row ever evaluated and how the search ended."""

    best_z: np.ndarray
    best_loss: float
    best_success: bool
    best_extra: dict[str, np.ndarray]
    queries: int
    generations: int
    stop_reason: StopReason
    history: tuple[Generation, ...]
    seconds: float
    first_success_queries: int | None


@dataclass(frozen=True)
class StopRule:
    """When a search ends; checked after every generation in the order of the fields below.

    - success: with `success_rule="best"`, when the best-loss row evaluated so far is a success;
      with `"all"`, when every row of the latest generation is (paper 1's stricter test);
    - `all_nonfinite`: every row of one generation had a non-finite loss;
    - budget: `budget` queries spent (the last generation may overshoot by less than its size,
      unless the driver is given a row cap);
    - no improvement: the best loss has not improved by more than `min_delta` for `patience`
      generations.
    """

    budget: int = 20_000
    patience: int = 50
    min_delta: float = 1e-4
    stop_on_success: bool = True
    success_rule: Literal["best", "all"] = "best"

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ArgumentError(f"budget must be at least 1 query, got {self.budget}")
        if self.patience < 1:
            raise ArgumentError(f"patience must be at least 1 generation, got {self.patience}")
        if not self.min_delta >= 0:
            raise ArgumentError(f"min_delta must be >= 0, got {self.min_delta}")
        if self.success_rule not in ("best", "all"):
            raise ArgumentError(f"success_rule must be 'best' or 'all', got {self.success_rule!r}")
