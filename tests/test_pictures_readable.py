"""Pictures a person can read: titled panels, colour bars on signed maps, charts for rows of values, and
BGR models' inputs drawn in RGB (the contract keeps data in RGB pixel space)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from auditor.data import load_data
from auditor.pictures import Display, display_range
from auditor.pictures.annotate import CHART_HEIGHT, CHART_WIDTH, TITLE_HEIGHT
from auditor.pictures.pixels import DIVERGING_LUT
from auditor.preprocessing import preset

RNG = np.random.default_rng(0)


def test_counterfactual_panels_carry_their_titles() -> None:
    display = Display("NCHW", (0.0, 1.0))
    x = RNG.random((1, 8, 8))
    plain = display.comparison(x, x * 0.5)
    titled = display.comparison(x, x * 0.5, ("input 3: cat", "counterfactual: dog", "change"))
    assert titled.shape == (plain.shape[0] + TITLE_HEIGHT, plain.shape[1], 3)
    strip = titled[2 : 2 + TITLE_HEIGHT, 2:114]
    assert (strip.min(axis=2) < 100).sum() > 20  # dark text on the white strip
    assert (titled[2 + TITLE_HEIGHT :] == plain[2:]).all()  # the panels themselves unchanged


def test_a_signed_map_carries_its_colour_bar() -> None:
    display = Display("NCHW", (0.0, 1.0))
    heat = np.linspace(-2, 2, 64).reshape(8, 8)
    tile = display.map_tile(heat)
    assert tile.shape[0] == 112 and tile.shape[1] > 112 + 10
    bar = tile[:, 112 + 4 + 5]  # the middle column of the bar
    assert (bar[0] == DIVERGING_LUT[255]).all() and (
        bar[-1] == DIVERGING_LUT[0]
    ).all()  # +limit red, -limit blue
    numbers = tile[:, 112 + 4 + 10 :]
    assert (numbers.min(axis=2) < 100).any()  # the limits written beside it


def test_a_row_of_2048_bytes_is_a_chart_not_a_strip() -> None:
    display = Display("flat", (0.0, 255.0))
    row = RNG.integers(0, 256, 2048).astype(np.float64)
    row[:1024] = 10.0  # low first half, noisy second half
    tile = display.tile(row)
    assert tile.shape == (CHART_HEIGHT, CHART_WIDTH, 3)
    ink = tile.min(axis=2) < 100
    assert ink[: CHART_HEIGHT // 2, : CHART_WIDTH // 2 - 2].sum() == 0  # the low half's line stays low
    assert ink[: CHART_HEIGHT // 4, CHART_WIDTH // 2 + 2 :].any()  # high bytes reach the top
    bars = display.map_tile(np.concatenate([np.full(1024, 1.0), np.full(1024, -1.0)]))
    middle = CHART_HEIGHT // 2
    left, right = bars[middle - 10, 100], bars[middle + 10, 380]
    assert left[0] > left[2] and right[2] > right[0]  # positive up in red, negative down in blue
    assert (bars[middle + 10, 100] == 255).all() and (bars[middle - 10, 380] == 255).all()


def test_a_bgr_model_s_inputs_are_drawn_in_rgb(tmp_path: Path) -> None:
    red = np.zeros((256, 256, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    contract = preset("imagenet-bgr-caffe")
    data = load_data(
        tmp_path / "red.png", contract
    )  # pixel space: RGB, 0-255, the swap left to the model call
    tile = Display("NCHW", display_range(data.x)).tile(data.x[0])
    assert tuple(tile[10, 10]) == (255, 0, 0)
    tensor = contract.to_tensor(data.x, "NCHW")
    assert tensor[0, 2, 0, 0] == np.float32(255 - 123.68) and tensor[0, 0, 0, 0] == np.float32(-103.939)
