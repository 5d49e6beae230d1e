"""The one-vs-one flip matrix: how far, and how often successfully, each class is pushed to every other."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditor.explain.counterfactuals.api import counterfactuals
from auditor.explain.counterfactuals.results import CounterfactualResult
from auditor.model.blackbox import BlackBox


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


def flip_matrix(blackbox: BlackBox, X: np.ndarray, **options: object) -> FlipMatrix:
    """One-vs-one: a counterfactual from each row's predicted class a to every other class b, all in
    lockstep; per (a, b) the median L2 distance of the valid ones and the share that succeeded."""
    start_time = time.perf_counter()
    X = blackbox.prepare(np.asarray(X))
    k_classes = blackbox.n_classes
    labels = blackbox.predict_labels(X)
    rows, goals = [], []
    for i, a in enumerate(labels):
        for b in range(k_classes):
            if a >= 0 and b != a:
                rows.append(i)
                goals.append(b)
    results: list[CounterfactualResult] = []
    if rows:
        results = counterfactuals(blackbox, X[np.array(rows)], np.array(goals), **options)  # type: ignore[arg-type]
    distance, success, attempts = flip_table(results, k_classes)
    queries = len(X) + sum(r.queries for r in results)
    return FlipMatrix(
        blackbox.class_names, distance, success, attempts, queries, time.perf_counter() - start_time
    )


def flip_table(
    results: Sequence[CounterfactualResult], k_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per predicted class a (row) and target b (column): the median L2 distance of the valid
    counterfactuals (NaN where none was valid), the share of attempts that succeeded (NaN where
    none was made), and the number of attempts."""
    distance = np.full((k_classes, k_classes), np.nan)
    success = np.full((k_classes, k_classes), np.nan)
    attempts = np.zeros((k_classes, k_classes), dtype=np.int64)
    pairs: dict[tuple[int, int], list[CounterfactualResult]] = {}
    for r in results:
        pairs.setdefault((r.source, r.target), []).append(r)
    for (a, b), group in pairs.items():
        attempts[a, b] = len(group)
        ok = [float(r.l2[0]) for r in group if r.valid[0]]
        success[a, b] = len(ok) / len(group)
        if ok:
            distance[a, b] = float(np.median(ok))
    return distance, success, attempts
