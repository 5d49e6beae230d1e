"""Specification of auditor.explain.attribution.occlusion and .baselines: sliding-window feature ablation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from attribution_models import BATCH, log_odds_image, log_odds_linear, open_model
from onnx_factory import conv_image

from auditor.errors import ArgumentError, DataError
from auditor.explain.attribution import occlusion, resolve_baseline
from auditor.explain.attribution.baselines import blur
from auditor.explain.attribution.core import Features


def test_window_one_equals_w_times_x_minus_baseline(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w, x, base = rng.normal(size=(3, 12))
    bb = open_model(log_odds_linear(w, 0.4), tmp_path / "m.onnx")
    result = occlusion(bb, x, target=1, baseline=base, window=1, stride=1, score="log_odds")
    np.testing.assert_allclose(result.map, w * (x - base), atol=2e-5)
    # Linear score: single-feature drops add up to the whole input-versus-baseline gap.
    assert result.score_input - result.score_baseline == pytest.approx(float(w @ (x - base)), abs=2e-5)
    assert result.total == pytest.approx(float(w @ (x - base)), abs=1e-4)
    assert result.map.shape == (12,) and result.method == "occlusion"


def test_cells_average_the_drops_of_every_window_covering_them(tmp_path) -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(1, 7, 6))
    x = rng.uniform(size=(1, 7, 6))
    bb = open_model(log_odds_image(w, -0.2), tmp_path / "m.onnx")
    result = occlusion(bb, x, target=1, baseline=0.25, window=3, stride=2, score="log_odds")
    contribution = (w * (x - 0.25))[0]
    # Captum's placement: starts 0, 2, 4 on both axes; on the 6 columns the last window is cut to {4, 5}
    starts_r, starts_c = [0, 2, 4], [0, 2, 4]
    total, cover = np.zeros((7, 6)), np.zeros((7, 6))
    for r in starts_r:
        for c in starts_c:
            total[r : r + 3, c : c + 3] += contribution[r : r + 3, c : c + 3].sum()
            cover[r : r + 3, c : c + 3] += 1
    np.testing.assert_allclose(result.map, total / cover, atol=1e-4)
    assert result.settings["windows"] == 9 and result.queries == 9 + 2


def test_nchw_and_nhwc_copies_of_a_model_give_the_same_map(tmp_path) -> None:
    x = np.random.default_rng(2).uniform(size=(3, 8, 8))
    nchw = open_model(conv_image((3, 8, 8), 4, seed=5), tmp_path / "a.onnx")
    nhwc = open_model(conv_image((3, 8, 8), 4, nhwc=True, seed=5), tmp_path / "b.onnx")
    a = occlusion(nchw, x, window=2, stride=2)
    b = occlusion(nhwc, x.transpose(1, 2, 0), window=2, stride=2)
    assert a.map.shape == b.map.shape == (8, 8)
    assert a.target == b.target
    np.testing.assert_allclose(a.map, b.map, atol=1e-5)


def test_occlusion_sends_all_windows_in_batches(tmp_path) -> None:
    bb = open_model(conv_image((1, 12, 12), 3), tmp_path / "m.onnx")
    x = np.random.default_rng(3).uniform(size=(1, 12, 12))
    calls = bb.calls
    result = occlusion(bb, x, window=2, stride=1)
    rows = 11 * 11 + 2
    assert result.queries == rows == bb.queries
    assert result.calls == bb.calls - calls == math.ceil(rows / BATCH)


def test_baselines() -> None:
    view = Features((1, 16, 16), "NCHW")
    x = np.random.default_rng(4).uniform(size=(1, 16, 16))
    flat = np.full((1, 16, 16), 0.3)
    np.testing.assert_allclose(resolve_baseline("blur", flat, view), flat)
    smooth = blur(x, view)
    assert smooth.shape == x.shape and smooth.std() < 0.5 * x.std()
    assert abs(smooth.mean() - x.mean()) < 0.02
    np.testing.assert_allclose(resolve_baseline(0.7, x, view), np.full(x.shape, 0.7))
    reference = np.random.default_rng(5).uniform(size=(20, 1, 16, 16))
    np.testing.assert_allclose(resolve_baseline("mean", x, view, reference), reference.mean(axis=0))
    noise = resolve_baseline("noise", x, view, rng=np.random.default_rng(0))
    assert np.array_equal(noise, resolve_baseline("noise", x, view, rng=np.random.default_rng(0)))
    channels_last = np.random.default_rng(6).uniform(size=(16, 16, 1))
    np.testing.assert_array_equal(resolve_baseline(channels_last, x, view), channels_last.transpose(2, 0, 1))
    with pytest.raises(ArgumentError, match="reference"):
        resolve_baseline("mean", x, view)
    with pytest.raises(ArgumentError, match="image"):
        resolve_baseline("blur", np.zeros(5), Features((5,), "flat"))
    with pytest.raises(DataError):
        resolve_baseline(np.zeros(7), x, view)


def test_bad_settings_fail_with_one_line(tmp_path) -> None:
    bb = open_model(conv_image((1, 6, 6), 3), tmp_path / "m.onnx")
    x = np.zeros((1, 6, 6))
    with pytest.raises(ArgumentError, match="larger than the map"):
        occlusion(bb, x, window=7)
    with pytest.raises(ArgumentError, match="out of range"):
        occlusion(bb, x, target=3)
    with pytest.raises(DataError, match="does not fit"):
        occlusion(bb, np.zeros((2, 6, 6)))


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_non_finite_baseline_is_refused(text):
    from auditor.errors import ArgumentError
    from auditor.explain.attribution import parse_baseline

    with pytest.raises(ArgumentError, match="finite"):
        parse_baseline(text)
