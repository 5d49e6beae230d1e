"""Specification of the counterfactual measures (`auditor.explain.counterfactuals.measures`) and their summary."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.explain.counterfactuals import summarize
from auditor.explain.counterfactuals.measures import (
    NearestReference,
    changed_features,
    data_box,
    feature_scale,
    l1_distance,
    l2_distance,
    margin,
    reached,
    validity,
)

PROBS = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])


def test_margin_and_validity_for_a_class_and_for_any_class() -> None:
    assert margin(PROBS, 1, 0) == pytest.approx(np.log([0.2 / 0.7, 0.5 / 0.3, 0.3 / 0.4]))
    assert margin(PROBS, -1, 0) == pytest.approx(np.log([0.2 / 0.7, 0.5 / 0.2, 0.4 / 0.3]))
    assert validity(PROBS, 1, 0).tolist() == [False, True, False]
    assert validity(PROBS, -1, 0).tolist() == [False, True, True]
    assert validity(PROBS, -1, 0, tau=0.45).tolist() == [False, True, False]
    assert reached(PROBS, -1, 0).tolist() == [1, 1, 2]
    assert not validity(np.array([[np.nan, 0.5, 0.5]]), 1, 0)[0]


def test_distances_sparsity_scale_and_box() -> None:
    x = np.array([[0.0, 0.0, 1.0]])
    xc = np.array([[3.0, -4.0, 1.0005]])
    assert l1_distance(x, xc) == pytest.approx([7.0005])
    assert l2_distance(x, xc) == pytest.approx([5.0], abs=1e-3)
    assert l1_distance(x, xc, np.array([3.0, 2.0, 1.0])) == pytest.approx([3.0005])
    assert changed_features(x, xc, 1e-3).tolist() == [2]
    reference = np.array([[0.0, 5.0, 1.0], [1.0, 5.0, 2.0], [2.0, 5.0, 9.0], [3.0, 5.0, 3.0]])
    scale = feature_scale(reference)
    assert scale[0] == pytest.approx(1.4826 * 1.0) and scale[1] == 1.0  # constant feature: falls back to 1
    lower, upper = data_box(reference)
    assert lower.tolist() == [0.0, 5.0, 1.0] and upper.tolist() == [3.0, 5.0, 9.0]
    assert data_box(reference, per_feature=False)[1].tolist() == [9.0, 9.0, 9.0]


def test_realism_is_one_for_typical_rows_and_grows_off_the_data() -> None:
    grid = np.array([[i, j] for i in range(10) for j in range(10)], dtype=float)  # NN distance 1 everywhere
    near = NearestReference(grid)
    assert near.typical == pytest.approx(1.0)
    assert near.realism(np.array([[0.0, 0.5], [4.0, 4.0], [20.0, 9.0]])) == pytest.approx([0.5, 0.0, 11.0])


def test_summary_takes_validity_over_all_and_distances_over_valid_ones() -> None:
    class Fake:
        def __init__(self, valid, l1, queries):
            self.valid = np.array(valid)
            self.l1 = self.l2 = self.l1_scaled = self.changed = self.realism = np.array(l1, dtype=float)
            self.queries, self.seconds = queries, 0.5

    summary = summarize([Fake([True, False], [1.0, 100.0], 10), Fake([True], [3.0], 30)])  # type: ignore[list-item]
    assert summary.inputs == 2 and summary.counterfactuals == 3
    assert summary.validity_rate == pytest.approx(2 / 3)
    assert summary.median_l1 == 2.0 and summary.median_queries == 20.0
    assert np.isnan(summarize([]).validity_rate)
    figures = summary.to_dict()
    assert figures["validity"] == pytest.approx(2 / 3) and figures["median_l1"] == 2.0
    assert summarize([]).to_dict()["validity"] is None  # NaN is not JSON
