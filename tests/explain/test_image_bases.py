"""Specification of searches without a generator on image models: the digits box search reaches every
class, and large images are searched in a smooth low-frequency basis (`ImageBasis`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from digits_224 import build, upscale
from onnx_factory import save

from auditor.cli import main
from auditor.data import load_data
from auditor.explain.counterfactuals import CounterfactualParams, counterfactuals
from auditor.explain.counterfactuals.measures import NearestReference
from auditor.explain.exemplars import ExemplarParams, exemplars
from auditor.explain.image_bases import BASIS_MIN_VALUES, ImageBasis, dct_rows, uses_basis
from auditor.model.blackbox import BlackBox, OpenOptions

FAST = OpenOptions(device="cpu", batch_size=4096, threads=1)
HELD_OUT = 50  # digits rows explained; the rest are the reference


@pytest.fixture(scope="module")
def digits_224(digits_dir, tmp_path_factory):
    """The 224×224 model, its data (digits upscaled) split into inputs and reference."""
    path = save(build(digits_dir), tmp_path_factory.mktemp("digits224") / "classifier.onnx")
    images = upscale(load_data(digits_dir / "samples.npz").x)
    return BlackBox.open(path, FAST), images[:HELD_OUT], images[HELD_OUT:]


def test_dct_rows_are_orthonormal_and_the_basis_inverts_itself() -> None:
    rows = dct_rows(12, 5)
    assert np.allclose(rows @ rows.T, np.eye(5))
    assert np.allclose(rows[0], 1 / np.sqrt(12))  # the lowest frequency is the mean
    rng = np.random.default_rng(0)
    for layout, shape in (("NCHW", (3, 16, 20)), ("NHWC", (16, 20, 3)), ("HW", (16, 20))):
        reference = rng.uniform(0, 1, (40, *shape))
        basis = ImageBasis(reference, layout, side=4, clipped=False)
        assert basis.name == "dct-4x4" and basis.latent_dim == (3 if len(shape) == 3 else 1) * 16
        z = rng.standard_normal((5, basis.latent_dim))
        images = basis.generate(z)
        assert images.shape == (5, *shape)
        assert np.allclose(basis.encode(images), z, atol=1e-4)  # G is linear and E its left inverse
        assert np.allclose(
            basis.generate(np.zeros((1, basis.latent_dim)))[0], reference.mean(axis=0), atol=1e-6
        )
        assert basis.queries == 5 + 5 + 1
    clipped = ImageBasis(reference, "HW", side=4)
    wild = clipped.generate(10 * rng.standard_normal((8, clipped.latent_dim)))
    assert wild.min() >= np.float32(reference.min()) and wild.max() <= np.float32(reference.max())


def test_the_basis_is_chosen_above_64_by_64_grey_values() -> None:
    assert BASIS_MIN_VALUES == 64 * 64
    assert not uses_basis("NCHW", (1, 28, 28)) and not uses_basis("NCHW", (1, 64, 64))
    assert uses_basis("NCHW", (1, 224, 224)) and uses_basis("NHWC", (40, 40, 3))
    assert not uses_basis("flat", (5000,))


def test_digits_exemplars_from_data_reach_every_class_without_a_generator(digits_dir, tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "exemplars",
                str(digits_dir / "classifier.onnx"),
                "--data",
                str(digits_dir / "samples.npz"),
                "--threshold",
                "0.9",
                "--out",
                str(out),
                "--device",
                "cpu",
                "--batch-size",
                "4096",
                "--threads",
                "1",
                "--quiet",
            ]
        )
    report = json.loads((out / "exemplars.json").read_text())
    assert report["space"] == "input"
    reached = [entry["target"] for entry in report["exemplars"] if entry["success"]]
    assert reached == list(range(10)), report["exemplars"]
    assert stop.value.code == 0


def test_counterfactuals_on_a_224_model_search_the_dct_basis(digits_224) -> None:
    blackbox, inputs, reference = digits_224
    results = counterfactuals(
        blackbox, inputs[:1], "second", reference=reference, params=CounterfactualParams(budget=200), rng=0
    )
    own = float(np.median(NearestReference(reference).realism(inputs)))
    for result in results:
        assert result.space == "dct-8x8" and result.to_dict()["space"] == "dct-8x8"
        assert result.queries <= 200 and result.found
        assert result.counterfactuals.shape == (1, 1, 224, 224)
        assert result.counterfactuals.min() >= 0.0 and result.counterfactuals.max() <= 1.0
        assert blackbox.predict_labels(result.counterfactuals)[0] == result.target
        # smooth changes, not saturated blocks: no pixel moves by half the range, the row stays near the data
        assert np.abs(result.counterfactuals[0] - result.x).max() < 0.5
        assert result.realism[0] < 2.0 * own


@pytest.mark.slow
def test_counterfactuals_for_50_upscaled_digits_are_mostly_valid_and_realistic(digits_224) -> None:
    blackbox, inputs, reference = digits_224
    results = counterfactuals(blackbox, inputs, "second", reference=reference, rng=0)
    realism = NearestReference(reference).realism
    own = float(np.median(realism(inputs)))
    valid = [result for result in results if result.found]
    median = float(np.median([result.realism[0] for result in valid]))
    print(f"valid {len(valid)} of {len(results)}; median realism {median:.3f}, the data's own {own:.3f}")
    assert len(valid) >= 0.8 * len(results)
    assert median <= 1.5 * own


@pytest.mark.slow
def test_exemplars_on_a_224_model_run_in_the_basis_and_report_what_they_reached(digits_224) -> None:
    blackbox, _, reference = digits_224
    result = exemplars(blackbox, None, reference=reference, params=ExemplarParams(budget=3000), rng=0)
    figures = result.to_dict()
    assert figures["space"] == "dct-8x8" and len(figures["classes"]) == 10
    assert sum(entry["found"] for entry in figures["classes"]) >= 5
