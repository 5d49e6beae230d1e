"""Specification of auditor.explain.attribution.ablation (feature ablation over groups) and of what every
perturbation method shares: group ids, batches of inputs, broadcast baselines, raw scores, windows per
input dimension."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attribution_models import BATCH, log_odds_image, log_odds_linear, open_model
from onnx_factory import conv_image, linear, linear_classifier_ml

from auditor.errors import ArgumentError, ConventionError, DataError
from auditor.explain.attribution import (
    Attribution,
    Attributions,
    faithfulness,
    feature_ablation,
    gaussian_lime,
    lime,
    occlusion,
)
from auditor.explain.attribution.core import Features
from auditor.explain.attribution.features import group_labels


def test_groups_ablate_together_and_share_their_drop(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w, x, base = rng.normal(size=(3, 6))
    bb = open_model(log_odds_linear(w, -0.7), tmp_path / "m.onnx")
    groups = np.array([4, 1, 4, 0, 1, 4])  # repeated, not adjacent, not 0..k-1
    result = feature_ablation(bb, x, groups=groups, baseline=base, target=1, score="log_odds")
    assert isinstance(result, Attribution) and result.method == "feature-ablation"
    contribution = w * (x - base)
    for g in (0, 1, 4):
        np.testing.assert_allclose(result.map[groups == g], contribution[groups == g].sum(), atol=2e-5)
    assert result.total == pytest.approx(contribution.sum(), abs=1e-4)  # the sum over groups, not over cells
    assert result.queries == 3 + 2 == bb.queries and result.settings["features"] == 3
    assert result.settings["groups"].tolist() == groups.tolist() and result.settings["score"] == "log_odds"
    single = feature_ablation(bb, x, baseline=base, target=1, score="log_odds")  # no groups: one per feature
    np.testing.assert_allclose(single.map, contribution, atol=2e-5)
    assert single.settings["groups"] is None


def test_group_masks_cover_the_map_or_every_value_shared_or_per_input() -> None:
    view = Features((3, 4, 4), "NCHW")
    cells = np.arange(16).reshape(4, 4) % 3
    space, labels = group_labels(cells, view, 2)
    assert space.map_shape == (4, 4) and len(labels) == 2 and labels[0].tolist() == cells.ravel().tolist()
    values = np.arange(48).reshape(3, 4, 4)
    space, labels = group_labels(values, view, 1)
    assert space.map_shape == (3, 4, 4) and space.channel_axis is None
    per_input = np.stack([cells, 2 - cells])
    space, labels = group_labels(per_input, view, 2)
    assert labels[1].tolist() == (2 - cells).ravel().tolist()
    space, labels = group_labels(np.array([True, False] * 8), view, 1)  # booleans, flat in map order
    assert space.map_shape == (4, 4) and set(labels[0].tolist()) == {0, 1}
    space, labels = group_labels(cells.astype(np.float64), view, 1)  # whole numbers read from a CSV
    assert labels[0].dtype == np.int64
    with pytest.raises(ArgumentError, match="integer or boolean"):
        group_labels(cells + 0.5, view, 1)
    with pytest.raises(ArgumentError, match="fit neither"):
        group_labels(np.zeros((5, 5), int), view, 1)


def test_element_groups_keep_channels_apart(tmp_path) -> None:
    w = np.random.default_rng(1).normal(size=(3, 4, 4))
    x = np.random.default_rng(2).uniform(size=(3, 4, 4))
    bb = open_model(log_odds_image(w, 0.0), tmp_path / "m.onnx")
    groups = np.broadcast_to(np.arange(3)[:, None, None], (3, 4, 4))  # one group per channel
    result = feature_ablation(bb, x, groups=groups, target=1, score="log_odds")
    assert result.map.shape == (3, 4, 4)
    np.testing.assert_allclose(result.map[:, 0, 0], (w * x).sum(axis=(1, 2)), atol=1e-4)
    # and a map of the input's shape passes to the deletion curves
    curves = faithfulness(bb, x, result.map, target=1, steps=4)
    assert curves.deletion.shape == (5,)


def test_a_batch_is_one_stream_of_calls_with_one_map_per_input(tmp_path) -> None:
    bb = open_model(conv_image((1, 10, 10), 3), tmp_path / "m.onnx")
    xs = np.random.default_rng(3).uniform(size=(5, 1, 10, 10))
    calls = bb.calls
    batch = occlusion(bb, xs, window=3, stride=2)
    assert isinstance(batch, Attributions) and len(batch) == 5 and batch.maps.shape == (5, 10, 10)
    windows = 5 * 5  # starts 0, 2, 4, 6, 8 on each axis, the last window cut to {8, 9}
    assert batch.queries == 5 * (windows + 2) == bb.queries
    assert batch.calls == bb.calls - calls == math.ceil(5 * (windows + 2) / BATCH)  # not one stream per input
    for i, item in enumerate(batch):
        alone = occlusion(bb, xs[i], window=3, stride=2)
        np.testing.assert_allclose(item.map, alone.map, atol=1e-6)
        assert item.target == alone.target and item.queries == windows + 2
    assert batch.to_dict()["items"][0]["settings"]["stride"] == [2, 2]


def test_batches_take_one_target_per_input_and_broadcast_baselines(tmp_path) -> None:
    rng = np.random.default_rng(4)
    w, b0 = rng.normal(size=(2, 4))
    xs = rng.normal(size=(3, 4))
    bb = open_model(log_odds_linear(w, 0.1), tmp_path / "m.onnx")
    per_input = rng.normal(size=(3, 4))
    result = feature_ablation(bb, xs, baseline=per_input, target=[1, 1, 1], score="log_odds")
    np.testing.assert_allclose(result.maps, w * (xs - per_input), atol=2e-5)
    for shared in (b0[None], b0):  # [1, F] and [F]: one baseline for every input
        result = feature_ablation(bb, xs, baseline=shared, target=1, score="log_odds")
        np.testing.assert_allclose(result.maps, w * (xs - b0), atol=2e-5)
    targets = feature_ablation(bb, xs, target=[0, 1, 0]).targets
    assert targets.tolist() == [0, 1, 0]
    with pytest.raises(ArgumentError, match="3 inputs"):
        feature_ablation(bb, xs, target=[0, 1])


def test_lime_and_kernel_shap_take_the_same_groups(tmp_path) -> None:
    rng = np.random.default_rng(5)
    w, x, base = rng.normal(size=(3, 8))
    bb = open_model(log_odds_linear(w, 0.0), tmp_path / "m.onnx")
    groups = np.array([2, 0, 2, 1, 1, 0, 3, 2])
    shap = lime(bb, x, groups=groups, baseline=base, kernel="shap", samples=64, target=1, score="log_odds")
    ablation = feature_ablation(bb, x, groups=groups, baseline=base, target=1, score="log_odds")
    # a linear score: each group's Shapley value is its drop
    np.testing.assert_allclose(shap.map, ablation.map, atol=1e-4)
    assert shap.settings["features"] == "groups" and shap.settings["interpretable_features"] == 4
    batch = lime(bb, np.stack([x, -x]), groups=groups, samples=64, target=1, rng=0)
    assert batch.maps.shape == (2, 8)
    assert len(np.unique(batch.maps[0])) <= 4  # one coefficient per group
    with pytest.raises(ArgumentError, match="either groups or features"):
        lime(bb, x, groups=groups, features="grid")


def test_raw_scores_are_the_output_as_the_model_returns_it(tmp_path) -> None:
    rng = np.random.default_rng(6)
    w, x = rng.normal(size=(2, 5))
    single = open_model(linear(w[:, None], np.array([0.3]), head="logits"), tmp_path / "m.onnx")
    raw = feature_ablation(single, x, score="raw")  # an [N, 1] logit: one column, target 0
    assert raw.target == 0 and raw.score == "raw"
    np.testing.assert_allclose(raw.map, w * x, atol=2e-5)
    assert raw.score_input == pytest.approx(w @ x + 0.3, abs=1e-5)
    probability = feature_ablation(single, x, target=1)  # the same model read as [1 - s, s]
    assert probability.score_input == pytest.approx(1 / (1 + np.exp(-(w @ x + 0.3))), abs=1e-5)
    with pytest.raises(ArgumentError, match="out of range"):
        feature_ablation(single, x, score="raw", target=1)
    assert occlusion(single, x, window=1, score="log-odds", target=1).score == "log_odds"


def test_raw_scores_of_zipmap_and_label_only_models(tmp_path) -> None:
    rng = np.random.default_rng(11)
    w, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    x = rng.normal(size=(2, 4))
    zipmap = open_model(linear_classifier_ml(w, b, zipmap=True), tmp_path / "z.onnx")
    np.testing.assert_allclose(
        zipmap.predict_raw(x), zipmap.predict(x), atol=1e-6
    )  # its raw output is probabilities
    labels = linear_classifier_ml(w, b, zipmap=False)
    del labels.graph.output[1:]
    hard = open_model(labels, tmp_path / "l.onnx")
    with pytest.raises(ConventionError, match="labels only"):
        occlusion(hard, x[0], window=1, score="raw")


def test_windows_with_one_entry_per_input_dimension(tmp_path) -> None:
    w = np.random.default_rng(7).normal(size=(3, 6, 6))
    x = np.random.default_rng(8).uniform(size=(3, 6, 6))
    bb = open_model(log_odds_image(w, 0.0), tmp_path / "m.onnx")
    per_value = occlusion(bb, x, window=(1, 1, 1), stride=1, target=1, score="log_odds")
    assert per_value.map.shape == (3, 6, 6)
    np.testing.assert_allclose(per_value.map, w * x, atol=1e-4)
    per_cell = occlusion(bb, x, window=1, stride=1, target=1, score="log_odds")
    assert per_cell.map.shape == (6, 6)
    np.testing.assert_allclose(per_cell.map, (w * x).sum(axis=0), atol=1e-4)
    whole = occlusion(bb, x, window=(3, 2, 2), stride=(1, 2, 2), target=1, score="log_odds")
    np.testing.assert_allclose(whole.map[0], whole.map[2])  # windows over all channels: equal channels


def test_no_window_geometry_leaves_a_cell_uncovered(tmp_path) -> None:
    bb = open_model(conv_image((1, 9, 7), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(9).uniform(size=(1, 9, 7))
    for window in range(1, 8):
        for stride in range(1, window + 1):
            result = occlusion(bb, x, window=window, stride=stride)
            assert np.isfinite(result.map).all(), (window, stride)
    with pytest.raises(ArgumentError, match="larger than the window"):
        occlusion(bb, x, window=1, stride=2)


def test_gaussian_lime_takes_a_batch(tmp_path) -> None:
    bb = open_model(conv_image((1, 6, 6), 3), tmp_path / "m.onnx")
    xs = np.random.default_rng(10).uniform(size=(2, 1, 6, 6))
    batch = gaussian_lime(bb, xs, samples=100, rng=0)
    assert isinstance(batch, Attributions) and batch.maps.shape == (2, 6, 6)
    np.testing.assert_allclose(batch[0].map, gaussian_lime(bb, xs[0], samples=100, rng=0).map)
    assert batch.queries == 2 * 101 and batch[1].settings["seed"] == 0
    # input 1 draws from the first child stream of the seed: the same map as a single call on that stream
    child = np.random.default_rng(0).spawn(1)[0]
    np.testing.assert_allclose(batch[1].map, gaussian_lime(bb, xs[1], samples=100, rng=child).map)


def test_gaussian_lime_sends_a_batch_as_one_stream_of_calls(tmp_path) -> None:
    bb = open_model(conv_image((1, 6, 6), 3), tmp_path / "m.onnx")
    xs = np.random.default_rng(11).uniform(size=(3, 1, 6, 6))
    calls = bb.calls
    batch = gaussian_lime(bb, xs, samples=100, estimator="stein", rng=0)
    # 3 x 101 rows share calls of BATCH rows: ceil(303 / 32) = 10, where one input at a time takes 3 x 4
    assert batch.queries == bb.queries == 3 * 101 and [item.queries for item in batch] == [101] * 3
    assert batch.calls == bb.calls - calls == math.ceil(3 * 101 / BATCH) < 3 * math.ceil(101 / BATCH)


def test_an_input_that_fits_neither_form_is_refused(tmp_path) -> None:
    bb = open_model(conv_image((1, 6, 6), 3), tmp_path / "m.onnx")
    with pytest.raises(DataError, match="does not fit"):
        feature_ablation(bb, np.zeros((2, 2, 6, 6)))
