"""The one-vs-one flip matrix: how far, and how often successfully, each class is pushed to every other."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.explain.counterfactuals.api import DEFAULT_PARAMS, NO_CONSTRAINTS, counterfactuals
from auditor.explain.counterfactuals.domain import FeatureConstraints
from auditor.explain.counterfactuals.params import CounterfactualParams
from auditor.explain.counterfactuals.results import CounterfactualResult
from auditor.jsonable import jsonable
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator


@dataclass(frozen=True, eq=False)
class FlipMatrix:
    """One-vs-one map: for predicted class a (row) and target b (column), median L2 distance of the
    valid counterfactuals, the share of attempts that succeeded, and how many were attempted."""

    class_names: tuple[str, ...]
    distance: np.ndarray
    success: np.ndarray
    attempts: np.ndarray
    queries: int
    seconds: float

    @classmethod
    def of(cls, results: Sequence[CounterfactualResult], class_names: tuple[str, ...]) -> FlipMatrix:
        """The matrix of finished searches, each from its input's predicted class to one target; the
        queries and seconds are the searches' own."""
        distance, success, attempts = flip_table(results, len(class_names))
        queries = sum(result.queries for result in results)
        return cls(
            class_names, distance, success, attempts, queries, sum(result.seconds for result in results)
        )

    def among(self, classes: Sequence[int]) -> FlipMatrix:
        """The rows and columns of `classes` only (the queries and seconds stay the whole matrix's)."""
        cut = np.ix_(classes, classes)
        names = tuple(self.class_names[k] for k in classes)
        return replace(
            self,
            class_names=names,
            distance=self.distance[cut],
            success=self.success[cut],
            attempts=self.attempts[cut],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN, where no pair was valid or attempted, becomes None); `max_distance` is the
        largest median distance of a reached pair."""
        reached = self.distance[np.isfinite(self.distance)]
        return {
            "class_names": list(self.class_names),
            "distance_l2": jsonable(self.distance),
            "success": jsonable(self.success),
            "attempts": self.attempts.tolist(),
            "max_distance": float(reached.max()) if reached.size else None,
            "queries": self.queries,
            "seconds": self.seconds,
        }


def flip_matrix(
    blackbox: BlackBox,
    X: np.ndarray,
    *,
    generator: Generator | None = None,
    encoder: Encoder | None = None,
    reference: np.ndarray | None = None,
    constraints: FeatureConstraints = NO_CONSTRAINTS,
    params: CounterfactualParams = DEFAULT_PARAMS,
    rng: np.random.Generator | int = 0,
) -> FlipMatrix:
    """One-vs-one: a counterfactual from each row's predicted class a to every other class b, all in
    lockstep (see `counterfactuals` for the keywords); per (a, b) the median L2 distance of the valid
    ones and the share that succeeded."""
    start_time = time.perf_counter()
    X = blackbox.prepare(np.asarray(X))
    n_classes = blackbox.n_classes
    labels = blackbox.predict_labels(X)
    rows, goals = [], []
    for row, predicted in enumerate(labels):
        for goal in range(n_classes):
            if predicted >= 0 and goal != predicted:
                rows.append(row)
                goals.append(goal)
    results: list[CounterfactualResult] = []
    if rows:
        results = counterfactuals(
            blackbox,
            X[np.array(rows)],
            np.array(goals),
            generator=generator,
            encoder=encoder,
            reference=reference,
            constraints=constraints,
            params=params,
            rng=rng,
        )
    searched = FlipMatrix.of(results, blackbox.class_names)
    return replace(searched, queries=len(X) + searched.queries, seconds=time.perf_counter() - start_time)


def flip_table(
    results: Sequence[CounterfactualResult], n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per predicted class a (row) and target b (column): the median L2 distance of the valid
    counterfactuals (NaN where none was valid), the share of attempts that succeeded (NaN where
    none was made), and the number of attempts."""
    distance = np.full((n_classes, n_classes), np.nan)
    success = np.full((n_classes, n_classes), np.nan)
    attempts = np.zeros((n_classes, n_classes), dtype=np.int64)
    pairs: dict[tuple[int, int], list[CounterfactualResult]] = {}
    for result in results:
        pairs.setdefault((result.source, result.target), []).append(result)
    for (source, target), group in pairs.items():
        attempts[source, target] = len(group)
        reached = [float(result.l2[0]) for result in group if result.valid[0]]
        success[source, target] = len(reached) / len(group)
        if reached:
            distance[source, target] = float(np.median(reached))
    return distance, success, attempts
