"""Specification of `auditor robustness`: robustness.json as CLI.md states it, reproducible, pictures, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx_factory import conv_image, linear, linear_classifier_ml, save
from PIL import Image

from auditor.cli import main


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(["robustness", *args, "--device", "cpu", "--threads", "1", "--quiet"])
    return int(stop.value.code)


def test_images_get_the_document_and_pictures_and_the_same_seed_the_same_bytes(tmp_path, capsys) -> None:
    model = save(conv_image((1, 8, 8), k=3), tmp_path / "cnn.onnx")
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(6, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "rows.npz", X=X, y=np.zeros(6, dtype=np.int64))
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = [str(model), "--data", str(tmp_path / "rows.npz"), "--budget", "300", "--seed", "5"]
        assert _run([*args, "--out", str(out)]) == 0
        assert capsys.readouterr().out.strip() == str(out / "robustness.json")
        outputs.append((out / "robustness.json").read_bytes())
    assert outputs[0] == outputs[1]
    document = json.loads(outputs[0])
    assert {"norm", "seed", "queries", "inputs", "curve"} <= set(document)
    assert document["norm"] == "linf" and document["seed"] == 5 and document["method"] == "square"
    entries = document["inputs"]
    assert [e["index"] for e in entries] == list(range(6))
    assert document["queries"] == sum(e["queries"] for e in entries) and all(
        e["queries"] <= 300 for e in entries
    )
    assert all({"index", "source", "flipped_to", "radius", "found", "queries"} <= set(e) for e in entries)
    assert all(len(point) == 2 for point in document["curve"])
    found = [e for e in entries if e["found"]]
    assert found and all(e["flipped_to"] != e["source"] and e["radius"] > 0 for e in found)
    for entry in found:
        picture = Image.open(tmp_path / "a" / entry["image"])
        assert picture.width > 2.5 * picture.height  # input | perturbed | difference


def test_a_label_only_table_gets_l2_radii_by_the_boundary_walk(tmp_path) -> None:
    w = np.random.default_rng(1).normal(size=(4, 2))
    proto = linear_classifier_ml(w, np.zeros(2), zipmap=False)
    del proto.graph.output[1:]
    model = save(proto, tmp_path / "labels.onnx")
    np.savez(tmp_path / "rows.npz", X=np.random.default_rng(2).normal(size=(20, 4)).astype(np.float32))
    out = tmp_path / "out"
    assert _run([str(model), "--data", str(tmp_path / "rows.npz"), "--norm", "l2", "--out", str(out)]) == 0
    document = json.loads((out / "robustness.json").read_text())
    assert document["method"] == "hopskipjump" and document["labels_only"] and document["norm"] == "l2"
    assert document["found"] >= 18 and not (out / "images").exists()


@pytest.mark.parametrize(
    ("extra", "data_shape"),
    [
        ([], (5, 7)),  # rows that do not fit the model
        (["--budget", "0"], (5, 4)),
        (["--norm", "l1"], (5, 4)),
        (["--method", "pgd"], (5, 4)),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, extra, data_shape) -> None:
    model = save(linear(np.ones((4, 2)), np.zeros(2)), tmp_path / "m.onnx")
    np.save(tmp_path / "rows.npy", np.zeros(data_shape, dtype=np.float32))
    out = tmp_path / "out"
    assert _run([str(model), "--data", str(tmp_path / "rows.npy"), "--out", str(out), *extra]) == 2
    assert not out.exists()
    assert "Traceback" not in capsys.readouterr().err


def test_square_on_a_label_only_model_and_a_missing_file_exit_2(tmp_path, capsys) -> None:
    proto = linear_classifier_ml(np.ones((4, 2)), np.zeros(2), zipmap=False)
    del proto.graph.output[1:]
    model = save(proto, tmp_path / "labels.onnx")
    np.save(tmp_path / "rows.npy", np.zeros((3, 4), dtype=np.float32))
    out = tmp_path / "out"
    assert (
        _run([str(model), "--data", str(tmp_path / "rows.npy"), "--method", "square", "--out", str(out)]) == 2
    )
    assert "hopskipjump" in capsys.readouterr().err and not out.exists()
    assert _run([str(model), "--data", str(tmp_path / "missing.npy"), "--out", str(out)]) == 2
