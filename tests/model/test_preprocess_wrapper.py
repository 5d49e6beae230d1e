"""A BlackBox behind a preprocessing contract: callers work in pixel space, the model sees its own tensors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from onnx_factory import conv_image, save

from auditor.errors import ConventionError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.preprocess import PreprocessedBlackBox
from auditor.preprocessing import PreprocessParams, preset

PIXELS = np.random.default_rng(1).integers(0, 256, (37, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("nhwc", [False, True])
def test_pixels_through_the_contract_equal_the_tensors_given_by_hand(tmp_path: Path, nhwc: bool) -> None:
    path = save(conv_image((3, 8, 8), k=4, nhwc=nhwc), tmp_path / "m.onnx")
    contract = replace(preset("imagenet"), resize=None, crop=None, channels="BGR")
    boxed = PreprocessedBlackBox.open_with(path, contract, OpenOptions(cache=False))
    plain = BlackBox.open(path, OpenOptions(cache=False))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    by_hand = (PIXELS[:, ::-1] / 255 - mean[None, :, None, None]) / std[None, :, None, None]  # BGR, NCHW
    rows = PIXELS.transpose(0, 2, 3, 1) if nhwc else PIXELS  # pixel rows in the model's own layout
    tensors = by_hand.transpose(0, 2, 3, 1) if nhwc else by_hand
    np.testing.assert_allclose(boxed.predict(rows), plain.predict(tensors.astype(np.float32)), atol=1e-5)
    assert boxed.queries == len(PIXELS) and boxed.layout == ("NHWC" if nhwc else "NCHW")
    assert (boxed.predict_labels(rows) == plain.predict_labels(tensors.astype(np.float32))).all()
    assert boxed.contract()["summary"].startswith("imagenet with resize=None, crop=None, channels=BGR")


def test_digits_in_pixel_space_under_unit_keep_their_accuracy(digits_dir: Path) -> None:
    data = np.load(digits_dir / "samples.npz")
    boxed = PreprocessedBlackBox.open_with(digits_dir / "classifier.onnx", replace(preset("unit"), mode="L"))
    pixels = data["X"] * 255  # what a user holds: 0-255 images
    accuracy = float((boxed.predict_labels(pixels) == data["y"]).mean())
    assert accuracy == pytest.approx(445 / 450)  # the sample's published figure, now from 0-255 inputs
    boxed.class_names = tuple("abcdefghij")
    assert boxed.blackbox.class_names == tuple("abcdefghij")


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        (PreprocessParams(channels="BGR"), "swaps RGB to BGR but input 'image' has 1 channels"),
        (PreprocessParams(mean=(1.0, 2.0, 3.0)), "mean has 3 values but input 'image' has 1 channels"),
        (PreprocessParams(dtype="float16"), "casts to float16 but input 'image' takes float32"),
        (PreprocessParams(layout="NHWC"), "layout NHWC but the model's input is read as NCHW"),
    ],
)
def test_a_contract_the_input_cannot_take_is_one_line(
    tmp_path: Path, contract: PreprocessParams, message: str
) -> None:
    bb = BlackBox.open(save(conv_image((1, 8, 8)), tmp_path / "m.onnx"))
    with pytest.raises(ConventionError, match=message):
        PreprocessedBlackBox(bb, contract)
