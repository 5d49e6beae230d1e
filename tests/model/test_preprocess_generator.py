"""A preprocessing contract with a generator: the generator's rows are pixels (0-255), the classifier sees them
normalised by the contract, and exemplars, counterfactuals, distances and pictures stay in pixel space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model, save, softmax
from PIL import Image

from auditor.audit.checks import Context
from auditor.audit.config import load_config
from auditor.cli import main
from auditor.errors import ConventionError
from auditor.explain.counterfactuals.api import counterfactuals
from auditor.explain.counterfactuals.params import CounterfactualParams
from auditor.explain.exemplars.api import exemplars
from auditor.explain.exemplars.params import ExemplarParams
from auditor.model.blackbox import OpenOptions
from auditor.model.generator import Generator
from auditor.model.preprocess import PreprocessedBlackBox, check_generator_pixels
from auditor.model.session import SessionSettings
from auditor.preprocessing import PRESETS, PreprocessParams

SHAPE = (3, 4, 4)
LATENT = 4
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
CONTRACT = PreprocessParams(scale=1 / 255, mean=MEAN, std=STD)
RNG = np.random.default_rng(11)
W = RNG.normal(0.0, 0.5, (int(np.prod(SHAPE)), 3)).astype(np.float32)
A = RNG.normal(0.0, 1.0, (LATENT, int(np.prod(SHAPE)))).astype(np.float32)
B = RNG.normal(0.0, 0.3, int(np.prod(SHAPE))).astype(np.float32)


def normalised(x: np.ndarray) -> np.ndarray:
    """The contract's tensor part written out: pixels / 255, less the channel mean, over the channel std."""
    mean = np.array(MEAN, np.float32).reshape(1, 3, 1, 1)
    std = np.array(STD, np.float32).reshape(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


def expected_probabilities(x: np.ndarray) -> np.ndarray:
    """The classifier's probabilities of pixel rows, computed here: softmax(flat(normalised(x)) @ W)."""
    return softmax(normalised(x.astype(np.float64)).reshape(len(x), -1) @ W.astype(np.float64))


def classifier(path: Path) -> Path:
    """(N, 3, 4, 4) normalised tensors -> 3 logits by one dense layer."""
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
    ]
    proto = model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(W, "W")],
    )
    return save(proto, path)


def pixel_generator(path: Path, top: float = 255.0, offset: float = 0.0) -> Path:
    """z (N, 4) -> top * sigmoid(z A + b) + offset as (N, 3, 4, 4): images in offset..offset + top (pixels for
    top 255, offset 0)."""
    nodes = [
        helper.make_node("MatMul", ["z", "A"], ["za"]),
        helper.make_node("Add", ["za", "B"], ["pre"]),
        helper.make_node("Sigmoid", ["pre"], ["unit"]),
        helper.make_node("Mul", ["unit", "TOP"], ["scaled"]),
        helper.make_node("Add", ["scaled", "OFFSET"], ["flat"]),
        helper.make_node("Reshape", ["flat", "SHAPE"], ["x"]),
    ]
    proto = model(
        nodes,
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", LATENT])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *SHAPE])],
        [
            numpy_helper.from_array(A, "A"),
            numpy_helper.from_array(B, "B"),
            numpy_helper.from_array(np.array(top, np.float32), "TOP"),
            numpy_helper.from_array(np.array(offset, np.float32), "OFFSET"),
            numpy_helper.from_array(np.array([-1, *SHAPE], np.int64), "SHAPE"),
        ],
    )
    return save(proto, path)


def generated(z: np.ndarray, top: float = 255.0) -> np.ndarray:
    flat = top / (1.0 + np.exp(-(z @ A.astype(np.float64) + B)))
    return flat.reshape(len(z), *SHAPE)


@pytest.fixture
def models(tmp_path: Path) -> tuple[PreprocessedBlackBox, Generator]:
    boxed = PreprocessedBlackBox.open_with(
        classifier(tmp_path / "c.onnx"), CONTRACT, OpenOptions(cache=False)
    )
    return boxed, Generator.open(pixel_generator(tmp_path / "g.onnx"), SessionSettings(device="cpu"))


def test_the_classifier_sees_generated_pixels_through_the_contract(models) -> None:
    boxed, generator = models
    z = RNG.normal(size=(16, LATENT)).astype(np.float32)
    rows = generator.generate(z)
    np.testing.assert_allclose(rows, generated(z), atol=1e-3)
    np.testing.assert_allclose(boxed.predict(rows), expected_probabilities(rows), atol=1e-5)
    raw = softmax(rows.reshape(len(rows), -1).astype(np.float64) @ W)  # what the model would say without it
    assert np.abs(raw - expected_probabilities(rows)).max() > 0.3


def test_exemplars_through_the_generator_are_pixels_scored_through_the_contract(models) -> None:
    boxed, generator = models
    found = exemplars(boxed, generator, params=ExemplarParams(budget=300), rng=0)
    rows = np.stack([e.input for group in found.classes for e in group.exemplars])
    probabilities = np.stack([e.probabilities for group in found.classes for e in group.exemplars])
    latents = np.stack([e.latent for group in found.classes for e in group.exemplars])
    np.testing.assert_allclose(rows, generated(latents), atol=1e-2)  # the generator's pixels, as they are
    assert rows.min() >= 0.0 and rows.max() <= 255.0 and rows.max() > 100.0
    np.testing.assert_allclose(probabilities, expected_probabilities(rows), atol=1e-4)
    assert [e.target for group in found.classes for e in group.exemplars] == [0, 1, 2]
    assert all(e.probabilities[e.target] == e.confidence for group in found.classes for e in group.exemplars)


def test_counterfactuals_through_the_generator_are_pixels_and_pixel_distances(models) -> None:
    boxed, generator = models
    x = generated(RNG.normal(size=(4, LATENT))).astype(np.float32)
    results = counterfactuals(
        boxed,
        x,
        "second",
        generator=generator,
        params=CounterfactualParams(budget=400, inversion_budget=400),
        rng=0,
    )
    assert any(bool(r.valid[0]) for r in results)
    for row, result in zip(x, results, strict=True):
        found = result.counterfactuals
        assert found.shape == (1, *SHAPE) and found.min() >= -1e-3 and found.max() <= 255.0 + 1e-3
        np.testing.assert_allclose(result.probabilities, expected_probabilities(found), atol=1e-4)
        np.testing.assert_allclose(result.x, row, atol=1e-4)  # the input as given, in pixels
        distance = np.sqrt(((found[0].astype(np.float64) - row) ** 2).sum())
        np.testing.assert_allclose(result.l2[0], distance, rtol=1e-4)  # pixel units, not normalised ones


@pytest.mark.parametrize(
    ("top", "offset", "seen"),
    [
        (1.0, 0.0, r"lie in \[0\.0\d\d, 1\.000\]"),
        (4.0, -2.0, r"lie in \[-\d\.\d{3}, \d\.\d{3}\]"),
        (300.0, 0.0, r"lie in \[0\.\d{3}, 2\d\d\.\d{3}\]"),
    ],
)
def test_a_generator_whose_rows_are_not_pixels_is_refused_under_a_rescaling_contract(
    tmp_path: Path, top: float, offset: float, seen: str
) -> None:
    """0-1 images, normalised tensors (negative values) and values past 255 are not the contract's pixels."""
    path = pixel_generator(tmp_path / "g.onnx", top, offset)
    generator = Generator.open(path, SessionSettings(device="cpu"))
    with pytest.raises(ConventionError, match=f"the generator's rows {seen}, not 0-255 pixels") as info:
        check_generator_pixels(generator, CONTRACT)
    assert "\n" not in str(info.value) and "give a generator of 0-255 images" in str(info.value)
    check_generator_pixels(generator, PRESETS["none"])  # no rescaling: the rows reach the model as they are
    check_generator_pixels(
        Generator.open(pixel_generator(tmp_path / "p.onnx"), SessionSettings(device="cpu")), CONTRACT
    )


AUDIT = """\
[model]
path = "c.onnx"

[generator]
path = "{generator}"

[preprocess]
scale = 0.00392156862745098
mean = [0.5, 0.4, 0.3]
std = [0.2, 0.25, 0.3]

[run]
device = "cpu"
threads = 1
"""


def test_an_audit_under_a_contract_takes_pixel_generators_and_refuses_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    classifier(tmp_path / "c.onnx")
    pixel_generator(tmp_path / "pixels.onnx")
    pixel_generator(tmp_path / "unit.onnx", 1.0)
    config = tmp_path / "pixels.toml"
    config.write_text(AUDIT.format(generator="pixels.onnx"), encoding="utf-8")
    context = Context.open(load_config(config))
    reference = context.reference  # generated rows stand in for data: pixels, drawn as pixels
    assert reference is not None and reference.min() >= 0.0 and reference.max() > 200.0
    assert context.display.value_range[0] == 0.0 and context.display.value_range[1] == pytest.approx(
        reference.max()
    )
    np.testing.assert_allclose(
        context.blackbox.predict(reference), expected_probabilities(reference), atol=1e-5
    )
    refused = tmp_path / "unit.toml"
    refused.write_text(AUDIT.format(generator="unit.onnx"), encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["audit", "--config", str(refused), "--out", str(out), "--trust-model"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and not out.exists()
    assert "the generator's rows lie in [0.0" in err and "not 0-255 pixels" in err and "Traceback" not in err


def test_the_cli_refuses_a_generator_of_unit_images_under_preprocess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_path = classifier(tmp_path / "c.onnx")
    unit = pixel_generator(tmp_path / "unit.onnx", 1.0)
    pixels = pixel_generator(tmp_path / "pixels.onnx")
    args = [
        "exemplars",
        str(model_path),
        "--preprocess",
        "unit",
        "--budget",
        "100",
        "--trust-model",
        "--quiet",
    ]
    with pytest.raises(SystemExit) as info:
        main([*args, "--generator", str(unit), "--out", str(tmp_path / "refused")])
    err = capsys.readouterr().err
    assert (
        info.value.code == 2
        and "the generator's rows lie in [0.0" in err
        and len(err.strip().splitlines()) == 1
    )
    with pytest.raises(SystemExit) as info:
        main([*args, "--generator", str(pixels), "--out", str(tmp_path / "out")])
    out = tmp_path / "out"
    document = json.loads((out / "exemplars.json").read_text(encoding="utf-8"))
    rows = generated(np.array([entry["latent"] for entry in document["exemplars"]]))
    probabilities = np.array([entry["probabilities"] for entry in document["exemplars"]])
    expected = softmax((rows / 255.0).reshape(len(rows), -1) @ W.astype(np.float64))  # the unit contract
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)
    # the pictures are the generator's pixels, drawn black..white over the exemplars' own range (0..max)
    for row, entry in zip(rows, document["exemplars"], strict=True):
        picture = np.asarray(Image.open(out / entry["image"]).convert("RGB"), dtype=np.float64)
        factor = picture.shape[0] // SHAPE[1]
        drawn = picture[::factor, ::factor]
        np.testing.assert_allclose(drawn, row.transpose(1, 2, 0) * 255.0 / rows.max(), atol=1.5)
