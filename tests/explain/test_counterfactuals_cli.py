"""Specification of `auditor counterfactual`: the stable JSON keys, PNG triptychs for images, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx_factory import conv_image, linear, save
from PIL import Image

from auditor.cli import main
from auditor.data import load_data
from auditor.explain.counterfactuals import CounterfactualParams, FeatureConstraints, counterfactuals
from auditor.model.blackbox import BlackBox, OpenOptions

STABLE_KEYS = {"method", "seed", "queries", "counterfactuals"}
ENTRY_KEYS = {"index", "source", "target", "valid", "confidence", "l1", "l2", "changed", "realism", "queries"}


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(["counterfactual", *args, "--device", "cpu", "--threads", "1", "--quiet"])
    return int(stop.value.code)


def test_tabular_counterfactuals_write_the_stable_json_with_the_changes(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    model = save(linear(rng.normal(size=(4, 2)), np.zeros(2)), tmp_path / "m.onnx")
    X = rng.normal(size=(30, 4)).astype(np.float32)
    np.savez(tmp_path / "rows.npz", X=X, feature_names=np.array(["a", "b", "c", "d"]))
    out = tmp_path / "out"
    code = _run(
        [
            str(model),
            "--input",
            str(tmp_path / "rows.npz"),
            "--index",
            "0,3",
            "--immutable",
            "a",
            "--budget",
            "600",
            "--seed",
            "4",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out / "counterfactuals.json")
    document = json.loads((out / "counterfactuals.json").read_text())
    assert set(document) >= STABLE_KEYS and document["method"] == "cmaes" and document["seed"] == 4
    entries = document["counterfactuals"]
    assert [e["index"] for e in entries] == [0, 3]
    assert document["queries"] == sum(e["queries"] for e in entries) and all(
        e["queries"] <= 600 for e in entries
    )
    for entry in entries:
        assert set(entry) >= ENTRY_KEYS and entry["valid"] and entry["target"] != entry["source"]
        assert entry["changes"] and all(c["name"] != "a" for c in entry["changes"])
        assert entry["changed"] == len(entry["changes"])
    # the library's own JSON form of the same search is what the command wrote, key for key
    data = load_data(tmp_path / "rows.npz")
    results = counterfactuals(
        BlackBox.open(model, OpenOptions(device="cpu", threads=1)),
        data.x[[0, 3]],
        "second",
        reference=data.ref,
        constraints=FeatureConstraints(immutable=(0,)),
        params=CounterfactualParams(method="cmaes", budget=600),
        rng=np.random.default_rng(4),
    )
    own = [entry for result in results for entry in result.entries(("a", "b", "c", "d"))]
    for written, entry in zip(entries, own, strict=True):
        assert set(written) - {"index"} <= set(entry)
        differ = [key for key in written if key not in ("index", "seconds") and written[key] != entry[key]]
        assert not differ, differ


def test_image_counterfactuals_write_original_counterfactual_and_difference(tmp_path) -> None:
    model = save(conv_image((1, 8, 8), k=3), tmp_path / "cnn.onnx")
    X = np.random.default_rng(1).uniform(0, 1, (12, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "images.npy", X)
    out = tmp_path / "out"
    code = _run(
        [
            str(model),
            "--input",
            str(tmp_path / "images.npy"),
            "--target",
            "any",
            "--budget",
            "500",
            "--out",
            str(out),
        ]
    )
    document = json.loads((out / "counterfactuals.json").read_text())
    (entry,) = document["counterfactuals"]
    assert code == (0 if entry["valid"] else 1)
    with Image.open(out / entry["image"]) as picture:
        width, height = picture.size
    assert width > 3 * height - 10  # three square panels side by side


def test_a_budget_too_small_exits_1_and_a_bad_target_exits_2(tmp_path, capsys) -> None:
    rng = np.random.default_rng(2)
    model = save(linear(rng.normal(size=(3, 2)), np.zeros(2)), tmp_path / "m.onnx")
    np.save(tmp_path / "rows.npy", rng.normal(size=(5, 3)).astype(np.float32) * 50)
    out = tmp_path / "out"
    assert _run([str(model), "--input", str(tmp_path / "rows.npy"), "--budget", "1", "--out", str(out)]) == 1
    assert json.loads((out / "counterfactuals.json").read_text())["counterfactuals"][0]["valid"] is False
    assert (
        _run([str(model), "--input", str(tmp_path / "rows.npy"), "--target", "seven", "--out", str(out)]) == 2
    )
    assert "--target" in capsys.readouterr().err
