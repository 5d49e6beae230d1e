"""Specification of `auditor.explain.counterfactuals`: minimal, valid, constrained, budgeted, batched."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import linear, save

from auditor.errors import ArgumentError
from auditor.explain.counterfactuals import (
    CounterfactualParams,
    FeatureConstraints,
    counterfactual,
    counterfactuals,
    flip_matrix,
)
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.session import SessionSettings

CPU = OpenOptions(device="cpu", threads=1)


def open_linear(tmp_path, w, b, name="model.onnx", head="logits") -> BlackBox:
    return BlackBox.open(save(linear(np.asarray(w), np.asarray(b), head=head), tmp_path / name), CPU)


def boundary(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Two-class softmax over x @ w + b: the boundary is g(x) = (w1 − w0)·x + (b1 − b0) = 0."""
    dw, db = w[:, 1] - w[:, 0], b[1] - b[0]
    return dw, float(x @ dw + db)


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    rng = np.random.default_rng(7)
    w, b = rng.normal(size=(5, 2)), rng.normal(size=2)
    bb = open_linear(tmp_path_factory.mktemp("logistic"), w, b)
    return bb, w, b, rng.normal(size=(6, 5)).astype(np.float32)


def test_l2_counterfactual_of_a_logistic_model_is_within_125_percent_of_the_analytic_minimum(
    logistic,
) -> None:
    bb, w, b, X = logistic
    results = counterfactuals(
        bb, X[:4], "second", params=CounterfactualParams(distance="l2", budget=1500), rng=0
    )
    for x, r in zip(X[:4].astype(np.float64), results):
        dw, g = boundary(w, b, x)
        minimum = abs(g) / np.linalg.norm(dw)
        assert r.valid[0] and r.found
        assert r.source == int(g > 0) and r.target == 1 - r.source
        assert bb.predict_labels(r.counterfactuals)[0] == r.target
        assert minimum * 0.999 <= r.l2[0] <= 1.25 * minimum
        assert r.l2[0] == pytest.approx(np.linalg.norm(r.counterfactuals[0] - x), rel=1e-5)


def test_l1_with_sparsity_changes_only_the_dominant_feature(tmp_path) -> None:
    w = np.zeros((6, 2))
    w[:, 1] = [4.0, 0.3, -0.2, 0.1, 0.25, -0.15]
    bb = open_linear(tmp_path, w, np.array([0.0, -1.0]))
    X = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    for x, r in zip(
        X.astype(np.float64),
        counterfactuals(bb, X, "second", params=CounterfactualParams(distance="l1"), rng=3),
    ):
        _, g = boundary(w, np.array([0.0, -1.0]), x)
        assert r.valid[0]
        assert r.changed[0] == 1
        assert np.flatnonzero(r.counterfactuals[0] != x.astype(np.float32)).tolist() == [0]
        assert r.l1[0] <= 1.25 * abs(g) / 4.0


def test_immutable_integer_categorical_features_and_the_data_box_are_respected(tmp_path) -> None:
    rng = np.random.default_rng(2)
    # features: 0, 1 immutable (and the most tempting), 2, 3 integer, 4 category code, 5-7 one-hot block
    w = np.zeros((8, 2))
    w[:, 1] = [6.0, -5.0, 0.8, 0.6, 0.4, 0.9, -0.9, 0.1]
    bb = open_linear(tmp_path, w, np.zeros(2))
    n = 200
    reference = np.column_stack(
        [
            rng.normal(size=n),
            rng.normal(size=n),
            rng.integers(0, 10, n),
            rng.integers(-3, 4, n),
            rng.choice([0.0, 2.0, 5.0], n),
            np.eye(3)[rng.integers(0, 3, n)],
        ]
    ).astype(np.float32)
    X = reference[bb.predict_labels(reference) == 0][:5]
    constraints = FeatureConstraints(immutable=(0, 1), integer=(2, 3), categorical=(4, (5, 6, 7)))
    results = counterfactuals(
        bb,
        X,
        "second",
        reference=reference,
        constraints=constraints,
        params=CounterfactualParams(count=2),
        rng=5,
    )
    lower, upper = reference.min(axis=0), reference.max(axis=0)
    assert sum(r.found for r in results) >= 4
    for x, r in zip(X, results):
        for cf in r.counterfactuals:
            assert np.array_equal(cf[:2], x[:2])
            assert np.array_equal(cf[2:4], np.round(cf[2:4]))
            assert cf[4] in (0.0, 2.0, 5.0)
            assert sorted(cf[5:].tolist()) == [0.0, 0.0, 1.0]
            assert np.all(cf >= lower) and np.all(cf <= upper)


@pytest.mark.parametrize("budget", [1, 2, 9, 40, 333])
def test_budget_is_never_exceeded_and_a_tiny_one_returns_an_invalid_result(logistic, budget) -> None:
    bb, _, _, X = logistic
    before = bb.queries
    results = counterfactuals(
        bb, X[:3] * 40, "second", params=CounterfactualParams(budget=budget, count=2), rng=0
    )
    assert all(r.queries <= budget for r in results)
    assert bb.queries - before == sum(r.queries for r in results)
    if budget <= 2:
        assert not any(r.found for r in results)
        for r in results:
            assert r.counterfactuals.shape == (2, 5) and not r.valid.any()
            assert r.stop_reasons == ("budget", "budget")
            assert bb.predict_labels(r.counterfactuals).tolist() == [r.source, r.source]


def test_targets_class_any_and_the_predicted_class(tmp_path) -> None:
    rng = np.random.default_rng(4)
    bb = open_linear(tmp_path, rng.normal(size=(4, 3)), rng.normal(size=3))
    X = rng.normal(size=(5, 4)).astype(np.float32)
    labels = bb.predict_labels(X)
    goals = (labels + 1) % 3
    for r, goal in zip(counterfactuals(bb, X, goals, params=CounterfactualParams(budget=1000), rng=0), goals):
        assert r.valid[0] and r.target == goal and bb.predict_labels(r.counterfactuals)[0] == goal
    for r, label in zip(
        counterfactuals(bb, X, "any", params=CounterfactualParams(budget=1000), rng=0), labels
    ):
        assert r.valid[0] and r.target != label and bb.predict_labels(r.counterfactuals)[0] == r.target
    same = counterfactual(bb, X[0], int(labels[0]))
    assert same.valid[0] and same.l1[0] == 0 and same.queries == 1


def test_several_counterfactuals_are_kept_apart(logistic) -> None:
    bb, _, _, X = logistic
    for r in counterfactuals(bb, X[:3], "second", params=CounterfactualParams(count=3, diversity=0.5), rng=1):
        assert r.valid.all()
        first = np.sqrt(np.mean((r.counterfactuals[0] - r.x) ** 2))
        for i in range(3):
            for j in range(i + 1, 3):
                gap = np.sqrt(np.mean((r.counterfactuals[i] - r.counterfactuals[j]) ** 2))
                assert gap >= 0.5 * first * 0.999


def test_lockstep_sends_one_model_call_per_generation_for_all_inputs(logistic) -> None:
    bb, _, _, X = logistic
    params = CounterfactualParams(patience=10_000, budget=600)
    calls = bb.calls
    counterfactuals(bb, X[:1], "second", params=params, rng=0)
    alone = bb.calls - calls
    calls = bb.calls
    counterfactuals(bb, np.repeat(X, 4, axis=0), "second", params=params, rng=0)
    assert bb.calls - calls <= 2 * alone  # 24 inputs, not 24 times the calls


def test_seeded_runs_repeat_exactly(logistic) -> None:
    bb, _, _, X = logistic
    params = CounterfactualParams(budget=500)
    first = counterfactuals(bb, X[:2], "second", params=params, rng=11)
    again = counterfactuals(bb, X[:2], "second", params=params, rng=np.random.default_rng(11))
    for a, b in zip(first, again):
        assert np.array_equal(a.counterfactuals, b.counterfactuals) and a.queries == b.queries


def test_latent_search_through_a_linear_generator_with_and_without_encoder(tmp_path) -> None:
    rng = np.random.default_rng(8)
    basis = rng.normal(size=(3, 6))  # z (3) -> x (6)
    generator = Generator.open(
        save(linear(basis, np.zeros(6)), tmp_path / "g.onnx"), SessionSettings(device="cpu")
    )
    encoder = Encoder.open(
        save(linear(np.linalg.pinv(basis), np.zeros(3)), tmp_path / "e.onnx"), SessionSettings(device="cpu")
    )
    w = np.zeros((6, 2))
    w[:, 1] = basis.T @ np.array([1.0, -0.5, 0.2])
    bb = open_linear(tmp_path, w, np.zeros(2))
    X = (rng.normal(size=(4, 3)) @ basis).astype(np.float32)  # on the generator's range
    encoded = counterfactuals(bb, X, "second", generator=generator, encoder=encoder, rng=0)
    inverted = counterfactuals(
        bb, X, "second", generator=generator, params=CounterfactualParams(inversion_budget=1500), rng=0
    )
    for a, b in zip(encoded, inverted):
        assert a.valid[0] and b.valid[0] and a.space == "latent"
        assert a.z0_error is not None and a.z0_error < 1e-4
        assert b.z0_error is not None and b.z0_error < 0.05
        assert a.latent is not None and a.latent.shape == (1, 3)
        assert np.allclose(generator.generate(a.latent), a.counterfactuals, atol=1e-4)
        assert a.reconstruction[0] < 1e-3 and np.isnan(b.reconstruction[0])
        assert b.generator_queries > a.generator_queries


def test_flip_matrix_maps_every_ordered_pair_of_classes(tmp_path) -> None:
    rng = np.random.default_rng(9)
    bb = open_linear(tmp_path, rng.normal(size=(4, 3)) * 2, np.zeros(3))
    X = rng.normal(size=(9, 4)).astype(np.float32)
    matrix = flip_matrix(bb, X, params=CounterfactualParams(budget=400), rng=0)
    labels = bb.predict_labels(X)
    assert matrix.distance.shape == matrix.success.shape == (3, 3)
    for a in range(3):
        assert matrix.attempts[a, a] == 0 and np.isnan(matrix.success[a, a])
        for b in range(3):
            if a != b:
                assert matrix.attempts[a, b] == np.sum(labels == a)
                if matrix.attempts[a, b]:
                    assert matrix.success[a, b] == 1.0 and matrix.distance[a, b] > 0


def test_bad_options_raise_one_actionable_error(logistic) -> None:
    bb, _, _, X = logistic
    with pytest.raises(ArgumentError, match="method"):
        CounterfactualParams(method="gradient")
    with pytest.raises(ArgumentError, match="target"):
        counterfactuals(bb, X, "third")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="immutable"):
        counterfactuals(bb, X, constraints=FeatureConstraints(immutable=(9,)))
    with pytest.raises(ArgumentError, match="budget"):
        CounterfactualParams(budget=0)
    with pytest.raises(ArgumentError, match="tau"):
        CounterfactualParams(tau=1.0)
    with pytest.raises(ArgumentError, match="encoder needs its generator"):
        counterfactuals(bb, X, encoder=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CounterfactualParams("cmaes")  # type: ignore[misc]  # keyword-only
