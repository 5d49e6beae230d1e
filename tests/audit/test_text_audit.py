"""The text sample's audit end to end through the CLI, and the text config keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("tokenizers")

from auditor.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "sample_models" / "text"


def _audit(*args: str) -> int:
    with pytest.raises(SystemExit) as stop:
        main(["audit", *args, "--device", "cpu", "--quiet"])
    return int(stop.value.code)


def test_text_sample_audit_passes(tmp_path):
    out = tmp_path / "out"
    assert _audit("--config", str(SAMPLE / "audit.toml"), "--out", str(out)) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["verdict"] == "pass" and doc["class_names"] == ["linux", "love", "sports"]
    checks = {c["name"]: c for c in doc["checks"]}
    assert {name: c["status"] for name, c in checks.items() if name != "provenance"} == dict.fromkeys(
        ("accuracy", "stability", "exemplars", "counterfactuals", "attributions"), "passed"
    )
    assert checks["accuracy"]["figure"] == pytest.approx(0.6468, abs=1e-4)  # the sample README's figure
    assert checks["accuracy"]["details"]["rows"] == 218
    exemplars = checks["exemplars"]["details"]
    assert exemplars["classes_reached"] == 1.0 and all(e["text"] for e in exemplars["exemplars"])
    for entry in checks["counterfactuals"]["details"]["counterfactuals"]:
        edited = "".join(p["text"] if p["kind"] == "text" else p["new"] for p in entry["segments"])
        assert " ".join(edited.split()) == " ".join(entry["edited"].split())  # the marked edits make the text
    for entry in checks["attributions"]["details"]["maps"]:
        assert "".join(p["text"] for p in entry["segments"]) == entry["text"]
    assert checks["attributions"]["details"]["removal"] == "delete"


def test_text_column_must_exist(tmp_path, capsys):
    for name in ("classifier.onnx", "tokenizer.json", "config.json", "samples.jsonl"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    (tmp_path / "audit.toml").write_text(
        '[model]\npath = "classifier.onnx"\n[data]\npath = "samples.jsonl"\ntext_column = "body"\n'
    )
    assert _audit("--config", str(tmp_path / "audit.toml"), "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert "no text column 'body'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_data_flag_keeps_the_configs_text_columns(tmp_path, capsys):
    for name in ("classifier.onnx", "tokenizer.json", "config.json"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    rows = [json.loads(line) for line in (SAMPLE / "samples.jsonl").read_text().splitlines()[:40]]
    renamed = "".join(json.dumps({"body": r["text"], "topic": r["label"]}) + "\n" for r in rows)
    (tmp_path / "a.jsonl").write_text(renamed)
    (tmp_path / "b.jsonl").write_text(renamed)
    (tmp_path / "audit.toml").write_text(
        '[model]\npath = "classifier.onnx"\n'
        '[data]\npath = "a.jsonl"\ntext_column = "body"\nlabel_column = "topic"\n'
        "[checks.stability]\nenabled = false\n[checks.exemplars]\nenabled = false\n"
        "[checks.counterfactuals]\nenabled = false\n[checks.attributions]\nenabled = false\n"
    )
    out = tmp_path / "out"
    code = _audit(
        "--config", str(tmp_path / "audit.toml"), "--data", str(tmp_path / "b.jsonl"), "--out", str(out)
    )
    assert code == 0, capsys.readouterr().err
    accuracy = next(
        c for c in json.loads((out / "report.json").read_text())["checks"] if c["name"] == "accuracy"
    )
    assert accuracy["details"]["rows"] == 40  # texts and labels read from the config's columns of --data
