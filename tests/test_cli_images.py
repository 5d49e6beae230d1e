"""Image files given to a command are read in the model's channels and size, whatever their own."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx_factory import conv_image, save
from PIL import Image

from auditor.cli import main
from auditor.data import Preprocess, load_data


@pytest.mark.parametrize(("channels", "mode", "stored"), [(1, "RGB", (12, 9)), (3, "L", (10, 10))])
def test_attribute_reads_an_image_in_the_models_channels_and_size(tmp_path, channels, mode, stored):
    model = save(conv_image((channels, 10, 10), 3, seed=1), tmp_path / "cnn.onnx")
    pixels = np.random.default_rng(0).integers(
        0, 256, (*stored, 3) if mode == "RGB" else stored, dtype=np.uint8
    )
    Image.fromarray(pixels, mode).save(tmp_path / "x.png")
    args = ["attribute", str(model), "--input", str(tmp_path / "x.png"), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stop:
        main([*args, "--device", "cpu", "--batch-size", "64", "--threads", "1", "--quiet", "--trust-model"])
    assert stop.value.code == 0
    report = json.loads((tmp_path / "out" / "attribution.json").read_text())
    assert report["shape"] == [10, 10]  # one map over the model's 10x10 pixels
    x = load_data(tmp_path / "x.png", Preprocess(size=(10, 10), mode="L" if channels == 1 else "RGB")).x[0]
    drawn = np.asarray(Image.open(tmp_path / "out" / report["images"]["input"]).convert("RGB"))
    factor = drawn.shape[0] // 10
    expected = (np.repeat(x.mean(axis=0)[..., None], 3, 2) if channels == 1 else x.transpose(1, 2, 0)) * 255
    assert (
        np.abs(drawn[::factor, ::factor].astype(float) - expected).max() <= 0.5
    )  # values 0..1 drawn as 0..255
