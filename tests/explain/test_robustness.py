"""Specification of `auditor.explain.robustness`: radii against analytic answers, hard budgets, the box, labels only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx_factory import linear, linear_classifier_ml, save

from auditor.errors import ArgumentError, DataError
from auditor.explain.robustness import RobustnessParams, robustness
from auditor.model.blackbox import BlackBox, OpenOptions

CPU = OpenOptions(device="cpu", threads=1)
RNG = np.random.default_rng(7)
D = 8
W = RNG.normal(size=(D, 1))
B = RNG.normal(size=1)
X = RNG.normal(size=(12, D)).astype(np.float32)
BOUNDS = (-5.0, 5.0)  # wide enough to hold every analytic closest point below


def logistic(tmp_path) -> BlackBox:
    """p(class 1) = sigmoid(w·x + b): the decision boundary is the hyperplane w·x + b = 0."""
    return BlackBox.open(save(linear(W, B, head="sigmoid"), tmp_path / "logistic.onnx"), CPU)


def analytic(norm: str) -> np.ndarray:
    """Distance from each row of X to the hyperplane: |w·x + b| / ||w||₂ (L2) or / ||w||₁ (L∞)."""
    margin = np.abs(X.astype(np.float64) @ W[:, 0] + B[0])
    return margin / (np.linalg.norm(W) if norm == "l2" else np.abs(W).sum())


def check_flips(blackbox: BlackBox, result, norm: str) -> None:
    """Every found point is labelled as reported, differently from its input, at the reported radius."""
    found = [e for e in result.inputs if e.found]
    points = result.perturbed[[e.index for e in found]]
    labels = blackbox.predict_labels(points)
    assert labels.tolist() == [e.flipped_to for e in found]
    assert all(e.flipped_to != e.source for e in found)
    delta = (points - result.x[[e.index for e in found]]).reshape(len(found), -1).astype(np.float64)
    measured = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta**2).sum(axis=1))
    np.testing.assert_allclose(measured, [e.radius for e in found], rtol=1e-6)


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("method", ["square", "hopskipjump", "momentum_es", "cmaes"])
def test_the_radius_is_within_5_percent_of_the_distance_to_a_linear_boundary(tmp_path, method, norm) -> None:
    blackbox = logistic(tmp_path)
    params = RobustnessParams(method=method, norm=norm, budget=2000, labels_only=method == "hopskipjump")
    rows = X[:6] if method == "cmaes" else X  # cma's own ask/tell costs ~10 ms a generation per input
    result = robustness(blackbox, rows, params, bounds=BOUNDS, rng=0)
    assert result.method == method and all(e.found for e in result.inputs)
    ratio = result.radii / analytic(norm)[: len(rows)]
    assert ratio.min() >= 1 - 1e-4  # nothing flips closer than the boundary
    assert ratio.max() <= 1.05, ratio
    check_flips(blackbox, result, norm)


def label_only(tmp_path, w: np.ndarray, b: np.ndarray) -> BlackBox:
    """An ai.onnx.ml LinearClassifier with its `label` output only: a hard-label model."""
    names = ("cat", "dog", "eel")[: w.shape[1]]
    proto = linear_classifier_ml(w, b, zipmap=False, string_labels=names)
    del proto.graph.output[1:]
    blackbox = BlackBox.open(save(proto, tmp_path / "labels.onnx"), CPU)
    assert blackbox.signature.hard_label
    return blackbox


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_a_label_only_model_gets_radii_at_the_analytic_distance(tmp_path, norm) -> None:
    w, b = RNG.normal(size=(D, 2)), RNG.normal(size=2)
    blackbox = label_only(tmp_path, w, b)
    result = robustness(blackbox, X, RobustnessParams(norm=norm), bounds=BOUNDS, rng=1)
    assert result.method == "hopskipjump" and result.labels_only
    normal = w[:, 0] - w[:, 1]
    margin = np.abs(X.astype(np.float64) @ normal + b[0] - b[1])
    exact = margin / (np.linalg.norm(normal) if norm == "l2" else np.abs(normal).sum())
    ratio = result.radii / exact
    assert ratio.min() >= 1 - 1e-4 and ratio.max() <= 1.05, ratio
    check_flips(blackbox, result, norm)
    for scores in ("square", "es", "cmaes"):
        with pytest.raises(ArgumentError, match="hopskipjump"):
            robustness(blackbox, X, RobustnessParams(method=scores), bounds=BOUNDS)


def test_three_label_only_classes_flip_no_closer_than_the_nearest_boundary(tmp_path) -> None:
    """The flip distance is min over k of |z_c − z_k| / ||w_c − w_k||: never beaten, and the walk only
    improves on its start, the nearest row of another label."""
    w, b = RNG.normal(size=(D, 3)), RNG.normal(size=3)
    blackbox = label_only(tmp_path, w, b)
    result = robustness(blackbox, X, RobustnessParams(norm="l2", starts=2), bounds=BOUNDS, rng=1)
    z = X.astype(np.float64) @ w + b
    source = z.argmax(axis=1)
    exact = [
        min(abs(z[i, c] - z[i, k]) / np.linalg.norm(w[:, c] - w[:, k]) for k in range(3) if k != c)
        for i, c in enumerate(source)
    ]
    assert [e.source for e in result.inputs] == source.tolist() and all(e.found for e in result.inputs)
    assert np.all(result.radii >= np.array(exact) * (1 - 1e-4))
    for i, c in enumerate(source):
        assert result.radii[i] <= np.sqrt(((X[source != c] - X[i]) ** 2).sum(axis=1)).min() + 1e-6
    check_flips(blackbox, result, "l2")


@pytest.mark.parametrize("method", ["square", "hopskipjump", "es", "cmaes"])
@pytest.mark.parametrize("budget", [10, 37, 251])
def test_budgets_are_never_exceeded_and_every_query_is_counted(tmp_path, method, budget) -> None:
    blackbox = logistic(tmp_path)
    before = blackbox.queries
    result = robustness(blackbox, X, RobustnessParams(method=method, budget=budget), bounds=BOUNDS, rng=3)
    assert all(e.queries <= budget for e in result.inputs)
    assert result.queries == blackbox.queries - before  # nothing sent that the result does not count
    for entry in result.inputs:
        assert entry.found == (entry.radius is not None) == (entry.flipped_to is not None)


@pytest.mark.parametrize("method", ["square", "hopskipjump", "es"])
def test_points_stay_in_the_box_integers_round_and_immutables_hold(tmp_path, method) -> None:
    blackbox = logistic(tmp_path)
    lower, upper = np.full(D, -3.0), np.full(D, 3.0)
    lower[2], upper[2] = -0.5, 0.5  # a tight feature
    rows = np.clip(X, lower, upper).astype(np.float32)
    rows[:, 5] = np.round(rows[:, 5])
    params = RobustnessParams(method=method, norm="l2", budget=800)
    result = robustness(blackbox, rows, params, bounds=(lower, upper), integer=[5], immutable=[0], rng=2)
    points = result.perturbed.astype(np.float64)
    assert (points >= lower - 1e-6).all() and (points <= upper + 1e-6).all()
    assert np.array_equal(points[:, 5], np.round(points[:, 5]))
    assert np.array_equal(points[:, 0], rows[:, 0])
    assert sum(e.found for e in result.inputs) >= len(rows) // 2
    check_flips(blackbox, result, "l2")


@pytest.mark.parametrize("method", ["square", "hopskipjump", "cmaes"])
def test_nothing_to_find_is_reported_not_raised(tmp_path, method) -> None:
    """A box that pins every feature to the input: no flip exists; it comes back not found, the curve stays at 1."""
    blackbox = logistic(tmp_path)
    rows = np.repeat(X[:1], 3, axis=0)
    result = robustness(blackbox, rows, RobustnessParams(method=method), bounds=(X[0], X[0]), rng=0)
    document = result.to_dict()
    assert document["found"] == 0 and document["median_radius"] is None
    assert all(e["radius"] is None and e["flipped_to"] is None and not e["found"] for e in document["inputs"])
    assert all(accuracy == 1.0 for _, accuracy in document["curve"])
    # nothing could move: the largest radius tried without a flip is 0, so the median is only known to be >= 0
    assert all(e["lower_bound"] == 0.0 for e in document["inputs"])
    assert document["median_radius_at_least"] == 0.0 and document["median_radius_censored"]


def test_the_document_is_the_cli_contract_and_reproducible(tmp_path) -> None:
    blackbox = logistic(tmp_path)
    labels = (X.astype(np.float64) @ W[:, 0] + B[0] > 0).astype(np.int64)
    labels[0] = 1 - labels[0]  # one misclassified row: wrong at every ε
    params = RobustnessParams(norm="l2", budget=300, curve_points=5)
    first = robustness(blackbox, X, params, labels=labels, bounds=BOUNDS, rng=11).to_dict()
    again = robustness(blackbox, X, params, labels=labels, bounds=BOUNDS, rng=11).to_dict()
    other = robustness(blackbox, X, params, labels=labels, bounds=BOUNDS, rng=12).to_dict()
    assert json.dumps(first) == json.dumps(again) and json.dumps(first) != json.dumps(other)
    assert {"norm", "seed", "queries", "inputs", "curve"} <= set(first) and first["seed"] == 11
    assert {"index", "source", "flipped_to", "radius", "found", "queries"} <= set(first["inputs"][0])
    curve = np.array(first["curve"])
    assert curve.shape == (5, 2) and curve[0, 1] == pytest.approx(11 / 12)
    assert (np.diff(curve[:, 1]) <= 0).all() and curve[-1, 1] <= 1 / 12 + 1e-12
    radii = [e["radius"] for e in first["inputs"]]
    assert first["median_radius"] == pytest.approx(float(np.median(radii)))
    per_class = first["median_radius_per_class"]
    for name, value in per_class.items():
        mine = [e["radius"] for e in first["inputs"] if e["source_name"] == name]
        assert value == pytest.approx(float(np.median(mine)))


@pytest.mark.parametrize("method", ["es", "cmaes"])
def test_the_evolution_strategies_repeat_bit_for_bit_from_a_seed(tmp_path, method) -> None:
    blackbox = logistic(tmp_path)
    params = RobustnessParams(method=method, norm="l2", budget=200)
    first = robustness(blackbox, X[:6], params, bounds=BOUNDS, rng=4)
    again = robustness(blackbox, X[:6], params, bounds=BOUNDS, rng=4)
    assert first.method == ("momentum_es" if method == "es" else "cmaes")
    assert json.dumps(first.to_dict()) == json.dumps(again.to_dict())
    assert np.array_equal(first.perturbed, again.perturbed)


def test_bad_arguments_are_one_line_errors(tmp_path) -> None:
    blackbox = logistic(tmp_path)
    for bad in ({"method": "pgd"}, {"norm": "l1"}, {"budget": 0}, {"candidates": 1.5}, {"tolerance": 0}):
        with pytest.raises(ArgumentError):
            RobustnessParams(**bad)
    with pytest.raises(ArgumentError, match="labels"):
        robustness(blackbox, X, labels=np.arange(len(X)))
    with pytest.raises(DataError, match="NaN"):
        robustness(blackbox, np.full((2, D), np.nan, dtype=np.float32))


def test_a_random_forest_exported_with_only_its_label_gets_radii_and_counterfactuals(tmp_path) -> None:
    """skl2onnx's export of a random forest, `label` output only: a hard-label model, searched by labels."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    data, target = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    data = data.astype(np.float32)
    forest = RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0).fit(data, target)
    proto = to_onnx(forest, data[:1], options={id(forest): {"zipmap": False}}, target_opset=17)
    del proto.graph.output[1:]  # keep `label` only
    blackbox = BlackBox.open(save(proto, tmp_path / "forest.onnx"), CPU)
    assert blackbox.signature.hard_label
    rows = data[:20]
    result = robustness(blackbox, rows, RobustnessParams(norm="l2", budget=600), reference=data, rng=0)
    assert result.method == "hopskipjump" and result.reference_queries == len(data)
    assert sum(e.found for e in result.inputs) >= 18
    check_flips(blackbox, result, "l2")
    # the walk starts at the nearest differently-labelled reference row and only gets closer
    labels = blackbox.predict_labels(data)
    for entry in result.inputs:
        if entry.found:
            unlike = data[labels != entry.source]
            assert entry.radius <= np.sqrt(((unlike - rows[entry.index]) ** 2).sum(axis=1)).min() + 1e-6
