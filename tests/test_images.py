"""Pictures of model inputs: one value-range rule, layouts drawn alike, signed maps that show the sign of a change."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from auditor.pictures import DIVERGING_LUT, Display, display_range, feature_strip, to_hwc, to_uint8


def test_to_uint8_uses_the_finite_range_and_stays_quiet():
    x = np.array([[0.0, 0.5, 1.0, np.nan, np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grey = to_uint8(to_hwc(x))[0, :, 0]
        blank = to_uint8(to_hwc(np.full((2, 2), np.nan)))
    assert grey.tolist() == [0, 128, 255, 0, 255]  # NaN drawn as the low end, Inf clipped to the high end
    assert blank.shape == (2, 2, 3) and (blank == 0).all()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.2, 0.7], (0.0, 1.0)),  # [0, 1] images are not stretched
        ([0.0, 255.0], (0.0, 255.0)),
        ([-1.0, 0.5], (-1.0, 1.0)),
        ([np.nan, np.inf, -np.inf, 3.0], (0.0, 3.0)),  # only finite values count
        ([np.nan, np.nan], (0.0, 1.0)),
    ],
)
def test_display_range_is_the_finite_range_widened_to_hold_zero_to_one(values, expected):
    assert display_range(np.array(values)) == expected


def test_a_picture_looks_the_same_in_either_channel_layout():
    chw = np.random.default_rng(0).uniform(0, 1, (3, 5, 7))
    first = Display("NCHW", (0.0, 1.0), min_side=10)
    last = Display("NHWC", (0.0, 1.0), min_side=10)
    assert np.array_equal(first.tile(chw), last.tile(chw.transpose(1, 2, 0)))
    assert first.tile(chw).shape == (10, 14, 3)  # enlarged by a whole factor until the short side is 10


def test_a_change_map_is_red_where_values_rose_blue_where_they_fell_white_elsewhere():
    before = np.full((1, 3, 3), 0.5)
    after = before.copy()
    after[0, 0, 0], after[0, 2, 2] = 0.9, 0.1
    change = Display("NCHW", (0.0, 1.0), min_side=3).change_tile(before, after)
    assert tuple(change[0, 0]) == tuple(DIVERGING_LUT[255])  # strongest rise: the red end
    assert tuple(change[2, 2]) == tuple(DIVERGING_LUT[0])  # strongest fall: the blue end
    assert tuple(change[1, 1]) == tuple(DIVERGING_LUT[127])  # no change: the white middle


def test_a_heat_tile_keeps_the_input_where_the_map_is_zero_and_colours_it_where_not():
    display = Display("HW", (0.0, 1.0), min_side=4)
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    heat = np.array([[0.0, 0.0], [0.0, -2.0]])
    tile = display.heat_tile(x, heat).astype(int)
    assert tile.shape == (4, 4, 3)
    white_half = 0.55 * DIVERGING_LUT[127].astype(float)
    assert np.allclose(tile[2, 0], (white_half + 0.45 * 255).astype(int), atol=1)  # bright pixel, no heat
    assert tile[3, 3, 2] > tile[3, 3, 0]  # negative heat: blue over red


def test_a_feature_strip_has_one_block_per_feature():
    strip = feature_strip(np.array([-1.0, 0.0, 1.0]))
    assert strip.shape == (24, 480, 3)
    assert tuple(strip[0, 0]) == tuple(DIVERGING_LUT[0]) and tuple(strip[0, -1]) == tuple(DIVERGING_LUT[255])
