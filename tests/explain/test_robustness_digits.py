"""Robustness on the bundled digits CNN: 50 held-out inputs, 2,000 queries each, scores and labels only.

The issue's anchors (PERF_ANCHORS.md, ART 1.20 on this model): ART's SquareAttack with a bisection on ε
reached a median L∞ ε of 0.151 and its HopSkipJump a median L2 of 2.22 at about the same budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.robustness import RobustnessParams, robustness
from auditor.model.blackbox import BlackBox, OpenOptions


def held_out(digits_dir) -> tuple[BlackBox, np.ndarray]:
    data = np.load(digits_dir / "samples.npz")
    blackbox = BlackBox.open(digits_dir / "classifier.onnx", OpenOptions(device="cpu"))
    right = np.flatnonzero(blackbox.predict_labels(data["X"]) == data["y"])[:50]
    return blackbox, data["X"][right]


@pytest.mark.slow
def test_scores_flip_95_percent_within_2000_queries_at_a_median_linf_below_arts(digits_dir) -> None:
    blackbox, X = held_out(digits_dir)
    result = robustness(blackbox, X, RobustnessParams(norm="linf", budget=2000), bounds=(0.0, 1.0), rng=0)
    assert result.method == "square"
    assert sum(e.found for e in result.inputs) >= 48 and max(e.queries for e in result.inputs) <= 2000
    assert result.median_radius() <= 0.151


@pytest.mark.slow
def test_labels_only_flip_90_percent_within_2000_queries_at_a_median_l2_below_arts(digits_dir) -> None:
    blackbox, X = held_out(digits_dir)
    params = RobustnessParams(norm="l2", budget=2000, labels_only=True)
    result = robustness(blackbox, X, params, bounds=(0.0, 1.0), rng=0)
    assert result.method == "hopskipjump" and result.labels_only
    assert sum(e.found for e in result.inputs) >= 45 and max(e.queries for e in result.inputs) <= 2000
    assert result.median_radius() <= 2.22
    flipped = blackbox.predict_labels(result.perturbed)
    assert all(flipped[e.index] == e.flipped_to != e.source for e in result.inputs if e.found)
