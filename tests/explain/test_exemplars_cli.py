"""Specification of `auditor exemplars`: the JSON's stable keys, PNG grids or CSV rows, exit codes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from auditor.cli import main
from auditor.data import load_data
from auditor.explain.exemplars import ExemplarParams, exemplars
from auditor.model.blackbox import BlackBox, OpenOptions

STABLE_KEYS = {"method", "seed", "queries", "exemplars"}
EXEMPLAR_KEYS = {"target", "target_name", "confidence", "queries", "latent"}
PNG = b"\x89PNG\r\n\x1a\n"


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(["exemplars", *args, "--device", "cpu", "--batch-size", "1024", "--threads", "1", "--quiet"])
    return int(stop.value.code)


def test_digits_exemplars_write_the_stable_json_and_png_grids(digits_dir, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = _run(
        [
            str(digits_dir / "classifier.onnx"),
            "--generator",
            str(digits_dir / "generator.onnx"),
            "--classes",
            "1,7",
            "--per-class",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out / "exemplars.json")
    report = json.loads((out / "exemplars.json").read_text())
    assert set(report) >= STABLE_KEYS and report["method"] == "momentum_es" and report["seed"] == 3
    assert [(e["target"], e["restart"]) for e in report["exemplars"]] == [(1, 0), (1, 1), (7, 0), (7, 1)]
    assert report["queries"] == sum(e["queries"] for e in report["exemplars"])
    for entry in report["exemplars"]:
        assert EXEMPLAR_KEYS | {"image"} <= set(entry)
        assert entry["confidence"] >= 0.95 and len(entry["latent"]) == 16
        assert (out / entry["image"]).read_bytes().startswith(PNG)
    grid = Image.open(out / report["classes"][0]["image"])
    assert grid.size[0] > 2 * grid.size[1] - 10  # two tiles side by side
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing written outside --out


def test_tabular_box_search_writes_csv_rows_inside_the_data_range(tabular_dir, tmp_path) -> None:
    out = tmp_path / "out"
    data = tabular_dir / "samples.npz"
    code = _run(
        [
            str(tabular_dir / "classifier.onnx"),
            "--data",
            str(data),
            "--method",
            "cmaes",
            "--threshold",
            "0.99",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    samples = np.load(data)
    reference = samples["X_reference"]
    with (out / "exemplars.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0][5:] == [str(name) for name in samples["feature_names"]]
    values = np.array([row[5:] for row in rows[1:]], dtype=np.float64)
    assert values.shape == (2, reference.shape[1])
    assert (values >= reference.min(axis=0)).all() and (values <= reference.max(axis=0)).all()
    report = json.loads((out / "exemplars.json").read_text())
    assert report["space"] == "input" and all("input" in e and "image" not in e for e in report["exemplars"])
    # the library's own JSON form of the same search is what the command wrote, key for key
    blackbox = BlackBox.open(
        tabular_dir / "classifier.onnx", OpenOptions(device="cpu", batch_size=1024, threads=1)
    )
    blackbox.adopt_class_names(
        load_data(data).class_names
    )  # the data file's names, as the command takes them
    result = exemplars(
        blackbox,
        None,
        reference=load_data(data).ref,
        params=ExemplarParams(method="cmaes", threshold=0.99),
        rng=np.random.default_rng(0),
    )
    own = result.to_dict()
    timings = {"seconds", "ort_seconds"}
    shared = set(report) & set(own) - timings - {"classes", "exemplars"}
    assert {key: report[key] for key in shared} == {key: own[key] for key in shared}
    for part in ("classes", "exemplars"):
        for written, entry in zip(report[part], own[part], strict=True):
            assert set(written) <= set(entry)
            assert all(written[key] == entry[key] for key in set(written) - timings), written


def test_missed_threshold_exits_1_and_bad_usage_exits_2(digits_dir, tmp_path, capsys) -> None:
    model, generator = str(digits_dir / "classifier.onnx"), str(digits_dir / "generator.onnx")
    out = str(tmp_path / "out")
    assert (
        _run(
            [
                model,
                "--generator",
                generator,
                "--classes",
                "8",
                "--threshold",
                "0.999999999",
                "--budget",
                "60",
                "--out",
                out,
            ]
        )
        == 1
    )
    assert json.loads((tmp_path / "out" / "exemplars.json").read_text())["exemplars"][0]["success"] is False
    assert _run([model, "--out", out]) == 2  # neither --generator nor --data
    assert _run([model, "--generator", generator, "--classes", "eleven", "--out", out]) == 2
    assert "'eleven' is neither a class name nor an index 0..9" in capsys.readouterr().err
