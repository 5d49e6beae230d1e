"""Specification of `auditor attribute`: the JSON's stable keys, the PNGs, and one-line failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from attribution_models import log_odds_linear
from onnx_factory import conv_image, save

from auditor.cli import main

STABLE_KEYS = {
    "method",
    "target",
    "seed",
    "queries",
    "shape",
    "map",
    "deletion_auc",
    "insertion_auc",
    "random_deletion_auc",
    "random_insertion_auc",
}
PNG = b"\x89PNG\r\n\x1a\n"


def _run(model: Path, data: Path, out: Path, *flags: str) -> int:
    """`auditor attribute` in-process on the CPU with a fixed batch (no calibration); returns the exit code."""
    args = ["attribute", str(model), "--input", str(data), "--out", str(out), *flags]
    with pytest.raises(SystemExit) as stop:
        main([*args, "--device", "cpu", "--batch-size", "64", "--threads", "1", "--quiet"])
    return int(stop.value.code)


def _report(out: Path) -> dict:
    return json.loads((out / "attribution.json").read_text())


@pytest.fixture
def image_case(tmp_path):
    model = save(conv_image((1, 10, 10), 3, seed=2), tmp_path / "cnn.onnx")
    data = tmp_path / "images.npz"
    images = np.random.default_rng(0).uniform(size=(3, 1, 10, 10)).astype(np.float32)
    np.savez(data, X=images, y=np.array([0, 1, 2]))
    return model, data, tmp_path / "out"


@pytest.mark.parametrize("method", ["occlusion", "lime", "gaussian-lime"])
def test_attribute_writes_the_stable_json_and_heatmaps(image_case, method: str, capsys) -> None:
    model, data, out = image_case
    flags = (
        "--index",
        "1",
        "--method",
        method,
        "--samples",
        "150",
        "--window",
        "2",
        "--steps",
        "10",
        "--seed",
        "3",
    )
    assert _run(model, data, out, *flags) == 0
    assert capsys.readouterr().out.strip() == str(out / "attribution.json")
    report = _report(out)
    assert report.keys() >= STABLE_KEYS
    assert report["method"] == method and report["seed"] == 3
    assert report["index"] == 1 and report["label"] == 1
    assert report["shape"] == [10, 10] and np.array(report["map"]).shape == (10, 10)
    assert report["queries"] > 0 and report["total_queries"] > report["queries"]
    assert all(np.isfinite(report[k]) for k in STABLE_KEYS if k.endswith("_auc"))
    assert len(report["curves"]["deletion"]) == 11
    for name in ("overlay", "map", "input"):
        assert (out / report["images"][name]).read_bytes().startswith(PNG)


def test_attribute_on_rows_with_sanity_check(tmp_path) -> None:
    rng = np.random.default_rng(1)
    model = save(log_odds_linear(rng.normal(size=5), 0.1), tmp_path / "lin.onnx")
    data = tmp_path / "rows.npz"
    np.savez(data, X=rng.normal(size=(4, 5)).astype(np.float32))
    out = tmp_path / "out"
    assert _run(model, data, out, "--method", "lime", "--samples", "100", "--target", "1", "--sanity") == 0
    report = _report(out)
    assert report["target"] == 1 and report["shape"] == [5]
    assert report["sanity"]["layers"] == [1] and len(report["sanity"]["correlations"]) == 1
    assert (out / report["images"]["map"]).read_bytes().startswith(PNG)


def test_counterfactual_method_uses_the_given_counterfactual(image_case, tmp_path) -> None:
    model, data, out = image_case
    counterfactual = tmp_path / "cf.npy"
    np.save(counterfactual, np.full((1, 10, 10), 0.5))
    flags = (
        "--method",
        "counterfactual",
        "--baseline",
        str(counterfactual),
        "--contrast",
        "0",
        "--target",
        "2",
    )
    assert _run(model, data, out, *flags, "--window", "2") == 0
    report = _report(out)
    assert report["method"] == "one-vs-one/occlusion" and report["target"] == 2
    figures = report["attribution"]
    assert figures["contrast"] == 0 and figures["score"] == "log_ratio"
    assert figures["gap"] == pytest.approx(figures["score_input"] - figures["score_baseline"])
    assert report["counterfactual"] is None
    assert (out / report["images"]["baseline"]).read_bytes().startswith(PNG)


def test_counterfactual_method_searches_one_when_none_is_given(tmp_path) -> None:
    rng = np.random.default_rng(2)
    model = save(log_odds_linear(rng.normal(size=4), 0.0), tmp_path / "lin.onnx")
    data = tmp_path / "rows.npz"
    np.savez(data, X=rng.normal(size=(30, 4)).astype(np.float32))
    out = tmp_path / "out"
    assert _run(model, data, out, "--method", "counterfactual", "--budget", "400") == 0
    report = _report(out)
    assert report["counterfactual"]["valid"] is True
    assert report["attribution"]["gap"] > 0  # the input scores its own class above the counterfactual's


def test_bad_input_exits_2_with_one_line(image_case, capsys) -> None:
    model, data, out = image_case
    assert _run(model, data, out, "--target", "7") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("auditor: error:") and "--target" in err and "\n" not in err
    assert _run(model, data, out, "--index", "9") == 2
    assert not (out / "attribution.json").exists()


def test_feature_ablation_takes_groups_from_a_csv_and_explains_raw_scores(tmp_path) -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=5)
    model = save(log_odds_linear(w, 0.1), tmp_path / "lin.onnx")
    data = tmp_path / "rows.npz"
    x = rng.normal(size=(2, 5)).astype(np.float32)
    np.savez(data, X=x)
    groups = tmp_path / "groups.csv"
    groups.write_text("0,1,0,2,1\n")
    out = tmp_path / "out"
    flags = ("--method", "feature-ablation", "--groups", str(groups), "--score", "raw", "--target", "1")
    assert _run(model, data, out, *flags) == 0
    report = _report(out)
    settings = report["attribution"]["settings"]
    assert settings["groups"] == [0, 1, 0, 2, 1] and settings["score"] == "raw"
    assert report["method"] == "feature-ablation" and report["attribution"]["score"] == "raw"
    contribution = w * x[0]  # raw logit column 1 = w.x + b: a group's drop is its sum of w_i x_i
    ids = np.array([0, 1, 0, 2, 1])
    expected = np.array([contribution[ids == g].sum() for g in ids])
    np.testing.assert_allclose(report["map"], expected, atol=1e-4)


def test_lime_takes_groups_from_npy_and_every_method_records_groups_and_score(image_case, tmp_path) -> None:
    model, data, out = image_case
    groups = tmp_path / "groups.npy"
    np.save(groups, (np.arange(100).reshape(10, 10) // 10) % 4)  # 4 groups of non-adjacent rows
    assert _run(model, data, out, "--method", "lime", "--groups", str(groups), "--samples", "60") == 0
    settings = _report(out)["attribution"]["settings"]
    assert settings["features"] == "groups" and settings["interpretable_features"] == 4
    assert np.array(settings["groups"]).shape == (10, 10) and settings["score"] == "probability"
    assert _run(model, data, out, "--score", "log-odds", "--window", "3") == 0
    settings = _report(out)["attribution"]["settings"]
    assert settings["groups"] is None and settings["score"] == "log_odds" and settings["stride"] == [1, 1]


def test_bad_groups_exit_2_with_one_line(image_case, tmp_path, capsys) -> None:
    model, data, out = image_case
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("0,1\n1,0\n")
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"not an array")
    for flags in (
        ("--method", "feature-ablation", "--groups", str(wrong)),
        ("--method", "feature-ablation", "--groups", str(broken)),
    ):
        assert _run(model, data, out, *flags) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("auditor: error:") and "groups" in err and "\n" not in err
    assert _run(model, data, out, "--method", "occlusion", "--groups", str(wrong)) == 2
    assert "Error: --groups applies to --method feature-ablation or lime" in capsys.readouterr().err
    assert not (out / "attribution.json").exists()
