"""The preprocessing contract: presets, the vectorised tensor part against per-channel formulas, validation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from auditor.errors import ArgumentError
from auditor.preprocessing import PRESETS, PreprocessParams, legacy, preset, preset_with

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (5, 3, 4, 6)).astype(np.float32)  # NCHW, RGB, 0-255


def test_imagenet_is_the_published_per_channel_formula() -> None:
    out = preset("imagenet").to_tensor(PIXELS, "NCHW")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (PIXELS[:, c] / 255 - mean[c]) / std[c], rtol=1e-5, atol=1e-5)
    assert out.dtype == np.float32 and out.shape == PIXELS.shape


def test_caffe_swaps_to_bgr_and_subtracts_the_bgr_mean() -> None:
    out = preset("imagenet-bgr-caffe").to_tensor(PIXELS, "NCHW")
    bgr_mean = (103.939, 116.779, 123.68)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], PIXELS[:, 2 - c] - bgr_mean[c], rtol=1e-6, atol=1e-4)


def test_nhwc_gives_the_same_values_transposed() -> None:
    contract = replace(preset("imagenet"), channels="BGR")
    nchw = contract.to_tensor(PIXELS, "NCHW")
    nhwc = contract.to_tensor(PIXELS.transpose(0, 2, 3, 1), "NHWC")
    np.testing.assert_allclose(nhwc, nchw.transpose(0, 2, 3, 1), rtol=1e-6)


def test_unit_and_none() -> None:
    np.testing.assert_allclose(preset("unit").to_tensor(PIXELS, "NCHW"), PIXELS / 255, rtol=1e-6)
    assert preset("none").to_tensor(PIXELS, "NCHW") is PIXELS  # identity: no copy
    flat = RNG.integers(0, 256, (3, 10)).astype(np.float32)
    np.testing.assert_allclose(preset("unit").to_tensor(flat, "flat"), flat / 255, rtol=1e-6)


def test_integer_dtype_rounds_and_clips() -> None:
    contract = PreprocessParams(scale=2.0, dtype="uint8")
    out = contract.to_tensor(np.array([[0.2, 100.4, 200.0]], np.float32), "flat")
    assert out.dtype == np.uint8 and out.tolist() == [[0, 201, 255]]


def test_legacy_size_mode_scale_is_the_same_mapping() -> None:
    contract = legacy((28, 28), "L", (-1.0, 1.0))
    grey = PIXELS[:, :1]
    np.testing.assert_allclose(contract.to_tensor(grey, "NCHW"), -1 + grey / 255 * 2, atol=1e-6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": (10, 10), "resize": 12}, "not both"),
        ({"std": (0.0,)}, "std must be positive"),
        ({"mean": (1.0, 2.0)}, "1 or 3 finite numbers"),
        ({"resize": 100, "crop": (224, 224)}, "larger than the resized shorter side"),
        ({"mode": "L", "channels": "BGR"}, "BGR needs colour images"),
        ({"scale": float("nan")}, "finite, non-zero"),
        ({"layout": "NCWH"}, "layout must be one of NCHW, NHWC"),
        ({"resample": "cubic"}, "resample must be one of"),
        ({"mean": ["0.5"]}, "mean must be numbers"),
    ],
)
def test_bad_contracts_are_one_line(changes: dict, message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        PreprocessParams(**changes)


def test_config_shapes_are_normalised() -> None:
    contract = PreprocessParams(crop=224, size=[256, 320], mean=[1, 2, 3], std=2)  # type: ignore[arg-type]
    assert contract.crop == (224, 224) and contract.size == (256, 320)
    assert contract.mean == (1.0, 2.0, 3.0) and contract.std == (2.0,)


def test_presets_and_overrides_by_name() -> None:
    assert set(PRESETS) == {"imagenet", "imagenet-bgr-caffe", "unit", "none"}
    with pytest.raises(ArgumentError, match="unknown preprocess preset 'imagenet2'"):
        preset("imagenet2")
    with pytest.raises(ArgumentError, match="unknown preprocess setting 'colour'"):
        preset_with("unit", {"colour": "BGR"})
    contract = preset_with("imagenet", {"channels": "BGR", "resample": "lanczos"})
    assert contract.preset == "imagenet" and contract.channels == "BGR" and contract.crop == (224, 224)


def test_describe_is_one_line_and_a_dict() -> None:
    contract = preset_with("imagenet", {"channels": "BGR"})
    line = contract.describe()
    assert "\n" not in line
    assert line.startswith(
        "imagenet with channels=BGR: colour, shorter side to 256 (bilinear), centre crop 224×224"
    )
    assert "×1/255" in line and "RGB→BGR" in line
    facts = contract.to_dict()
    assert facts["mean"] == [0.485, 0.456, 0.406] and facts["crop"] == [224, 224] and facts["dtype"] is None
    assert preset("none").describe() == "none: values passed to the model as read"
