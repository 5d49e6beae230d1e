"""Specification of auditor.explain.attribution.metrics: deletion/insertion beside random orders, rank
correlation, seed stability, and the model-randomisation sanity check on a copy of the ONNX graph."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from attribution_models import BATCH, log_odds_linear, open_model
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import conv_image, linear, model

from auditor.errors import ArgumentError
from auditor.explain.attribution import (
    faithfulness,
    lime,
    occlusion,
    randomisation_check,
    randomise,
    rank_correlation,
    seed_stability,
    weight_layers,
)
from auditor.model.loading import load_model


def test_rank_correlation() -> None:
    a = np.arange(10.0)
    assert rank_correlation(a, a**3) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    # Ties take their average rank: ranks (0, 1.5, 1.5, 3) against (0, 1, 2, 3).
    ranks = np.array([0, 1.5, 1.5, 3]) - 1.5
    expected = ranks @ (np.arange(4) - 1.5) / np.sqrt((ranks @ ranks) * 5)
    assert rank_correlation(np.array([1.0, 2, 2, 5]), np.array([1.0, 2, 3, 4])) == pytest.approx(expected)
    assert rank_correlation(np.array([1.0, -3]), np.array([2.0, 1]), absolute=True) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation(np.ones(4), a[:4]))


def test_deletion_and_insertion_curves_reward_the_true_order(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=40)
    x = rng.normal(size=40)
    bb = open_model(log_odds_linear(w, 0.0), tmp_path / "m.onnx")
    truth = w * x  # the exact contribution of every feature against the zero baseline
    calls = bb.calls
    good = faithfulness(bb, x, truth, target=1, steps=20, orders=5, rng=1)
    rows = (5 + 1) * 2 * 21
    assert good.queries == rows and good.calls == bb.calls - calls == math.ceil(rows / BATCH)
    bad = faithfulness(bb, x, -truth, target=1, steps=20, orders=5, rng=1)
    assert good.deletion_auc < good.random_deletion_auc < bad.deletion_auc
    assert good.insertion_auc > good.random_insertion_auc > bad.insertion_auc
    assert good.deletion_ratio < 1 < bad.deletion_ratio and good.insertion_ratio > 1 > bad.insertion_ratio
    p_x = float(bb.predict(x[None])[0, 1])
    p_base = float(bb.predict(np.zeros((1, 40)))[0, 1])
    assert good.deletion[0] == pytest.approx(p_x, abs=1e-6)
    assert good.deletion[-1] == pytest.approx(p_base, abs=1e-6)
    assert good.insertion[0] == pytest.approx(p_base, abs=1e-6)
    assert good.insertion[-1] == pytest.approx(p_x, abs=1e-6)
    assert good.fractions[0] == 0 and good.fractions[-1] == 1 and len(good.random_deletion) == 21
    # The random orders are the same whatever map is scored: the comparison is paired.
    assert good.random_deletion_auc == bad.random_deletion_auc


def test_seed_stability(tmp_path) -> None:
    bb = open_model(conv_image((1, 10, 10), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(2).uniform(size=(1, 10, 10))
    fixed = seed_stability(occlusion, bb, x, seeds=(0, 1, 2), window=2)
    assert fixed.correlations == (1.0, 1.0, 1.0)
    noisy = seed_stability(lime, bb, x, seeds=(0, 1, 2), samples=40, window=2)
    assert len(noisy.correlations) == 3 and noisy.minimum <= noisy.mean < 1.0


def _mlp_with_batchnorm():
    rng = np.random.default_rng(3)
    tensors = {
        "scale_in": np.full(4, 2.0),  # preprocessing before the first weight layer: never randomised
        "W1": rng.normal(size=(4, 6)),
        "b1": rng.normal(size=6),
        "gamma": np.ones(6) + 0.1 * rng.normal(size=6),
        "beta": 0.1 * rng.normal(size=6),
        "mean": 0.1 * rng.normal(size=6),
        "var": np.ones(6) + 0.1 * rng.uniform(size=6),
        "W2": 5.0 * rng.normal(size=(6, 3)),  # std far from 1: a redraw must keep each tensor's own std
        "b2": rng.normal(size=3),
    }
    nodes = [
        helper.make_node("Mul", ["x", "scale_in"], ["xs"]),
        helper.make_node("MatMul", ["xs", "W1"], ["a"]),
        helper.make_node("Add", ["a", "b1"], ["z"]),
        helper.make_node("Unsqueeze", ["z", "axes"], ["z3"]),
        helper.make_node("BatchNormalization", ["z3", "gamma", "beta", "mean", "var"], ["n3"]),
        helper.make_node("Squeeze", ["n3", "axes"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("MatMul", ["r", "W2"], ["c"]),
        helper.make_node("Add", ["c", "b2"], ["logits"]),
    ]
    initializers = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in tensors.items()]
    initializers.append(numpy_helper.from_array(np.array([2], np.int64), "axes"))
    return model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializers,
    )


def test_weight_layers_follow_the_graph_and_skip_statistics() -> None:
    assert weight_layers(_mlp_with_batchnorm()) == [("W1", "b1", "gamma", "beta"), ("W2", "b2")]
    assert weight_layers(conv_image((1, 6, 6), 3)) == [("F",), ("D",)]
    # skl2onnx style: a (d, 1) MatMul weight starts a layer; a single-value bias is left alone.
    assert weight_layers(linear(np.ones((5, 1)), np.ones(1))) == [("W",)]
    assert weight_layers(linear(np.ones((5, 3)), np.ones(3))) == [("W", "B")]


def test_randomise_redraws_only_the_top_layers_on_a_copy(tmp_path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(_mlp_with_batchnorm().SerializeToString())
    loaded = load_model(path)
    before = {t.name: numpy_helper.to_array(t).copy() for t in loaded.proto.graph.initializer}
    copy = randomise(loaded, 1, np.random.default_rng(0))
    after = {t.name: numpy_helper.to_array(t) for t in copy.proto.graph.initializer}
    assert {t.name: numpy_helper.to_array(t) for t in loaded.proto.graph.initializer}.keys() == before.keys()
    for name, value in before.items():
        untouched = np.array_equal(numpy_helper.to_array(_find(loaded.proto, name)), value)
        assert untouched, f"the original's {name} changed"
        changed = not np.array_equal(after[name], value)
        assert changed == (name in ("W2", "b2")), name
    assert after["W2"].std() == pytest.approx(before["W2"].std(), rel=0.6)
    assert copy.sha256 != loaded.sha256
    deeper = randomise(loaded, 2, np.random.default_rng(0))
    changed = {
        t.name
        for t in deeper.proto.graph.initializer
        if not np.array_equal(numpy_helper.to_array(t), before[t.name])
    }
    assert changed == {"W1", "b1", "gamma", "beta", "W2", "b2"}
    with pytest.raises(ArgumentError, match="2 weight layers"):
        randomise(loaded, 3, np.random.default_rng(0))


def _find(proto: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(t for t in proto.graph.initializer if t.name == name)


def test_randomisation_check_reruns_the_method_on_each_cascade_step(tmp_path) -> None:
    bb = open_model(conv_image((1, 10, 10), 4, seed=1), tmp_path / "m.onnx")
    x = np.random.default_rng(4).uniform(size=(1, 10, 10))
    calls = bb.calls
    check = randomisation_check(bb, occlusion, x, window=2, stride=1, rng=0)
    assert check.layers == (1, 2) and check.names == (("D",), ("F",))
    assert check.seed_correlation == 1.0  # occlusion is deterministic
    assert len(check.maps) == 2 and all(m.shape == (10, 10) for m in check.maps)
    assert all(c < 0.9 for c in check.correlations)
    # The original model runs twice (two seeds); the randomised copies run their own sessions.
    assert bb.calls - calls == 2 * math.ceil((81 + 2) / BATCH)
    again = randomisation_check(bb, occlusion, x, window=2, stride=1, rng=0)
    assert again.correlations == check.correlations  # the redrawn weights are seeded
