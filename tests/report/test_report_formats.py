"""Report formats: JUnit and SARIF required structure, JSON keys, Markdown and HTML escaping, folder mode, atomic writes."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from workspace import build

from auditor.audit import checks as C
from auditor.audit.config import load_config
from auditor.audit.results import AuditReport
from auditor.audit.runner import run_audit
from auditor.report import json_report, junit, markdown, sarif
from auditor.report.interface import WriteOptions
from auditor.report.writer import write_report

ALL = ("html", "json", "junit", "sarif", "markdown")
PAYLOAD = "<script>alert(1)</script>"
IMG_PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AuditReport:
    """One failed check (accuracy), one not run (stability, disabled), the rest passed; hostile names throughout."""
    root = tmp_path_factory.mktemp("ws")
    config_path = build(
        root,
        wrong_labels=12,
        model_name=f"{IMG_PAYLOAD}.onnx",
        output_name=IMG_PAYLOAD,
        metadata={PAYLOAD: IMG_PAYLOAD, "class_names": json.dumps([PAYLOAD, IMG_PAYLOAD, "c|*_"])},
        doc_string=PAYLOAD,
    )
    config = load_config(config_path)
    off = dataclasses.replace(config.checks.stability, enabled=False)
    config = dataclasses.replace(config, checks=dataclasses.replace(config.checks, stability=off))
    return run_audit(config, C.Context.open(config))


def test_fixture_covers_every_status(report: AuditReport) -> None:
    assert {c.name: c.status for c in report.checks}["accuracy"] == "failed"
    assert {c.status for c in report.checks} == {"reported", "passed", "failed", "not_run"}


def test_junit_has_one_testcase_per_check_with_the_right_outcome(report: AuditReport) -> None:
    root = ET.fromstring(junit.render(report))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.name for c in report.checks]
    for case, check in zip(cases, report.checks):
        assert case.get("classname") and float(case.get("time", "x")) >= 0
        failure, skipped = case.find("failure"), case.find("skipped")
        assert (failure is not None) == (check.status == "failed")
        assert (skipped is not None) == (check.status == "not_run")
        if failure is not None:
            assert "accuracy 0.8 is not >= 0.9" in failure.get("message", "")
    for element in (root, suite):
        assert int(element.get("tests", "-1")) == len(cases)
        assert int(element.get("failures", "-1")) == 1 and int(element.get("skipped", "-1")) == 1
        assert int(element.get("errors", "-1")) == 0


def test_sarif_has_the_required_2_1_0_structure(report: AuditReport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(report.model_path).parent.parent)
    doc = json.loads(json.dumps(sarif.render(report)))
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "onnx-auditor" and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(set(rule_ids)) == len(rule_ids) == len(report.checks)
    model_uri = f"{Path(report.model_path).parent.name}/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.onnx"
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"]
        assert result["level"] in ("none", "note", "warning", "error")
        if result["kind"] != "fail":
            assert result["level"] == "none"  # SARIF 3.27.10
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uri"] == model_uri and " " not in artifact["uri"]
    failed = [r for r in run["results"] if r["kind"] == "fail"]
    assert [r["ruleId"] for r in failed] == ["auditor/accuracy"] and failed[0]["level"] == "error"
    assert run["artifacts"][0]["hashes"]["sha-256"] == report.provenance["sha256"]


def test_json_report_round_trips_without_nan(report: AuditReport) -> None:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in report.json")

    doc = json.loads(json_report.render(report), parse_constant=refuse)
    assert doc["schema_version"] == 1 and doc["verdict"] == "fail"
    assert doc["class_names"] == [PAYLOAD, IMG_PAYLOAD, "c|*_"]  # data stays data in JSON


def test_markdown_escapes_untrusted_text(report: AuditReport) -> None:
    text = markdown.render(report)
    assert PAYLOAD not in text and "<img" not in text
    assert "| accuracy | ❌ FAILED |" in text and "**Not measured**" in text
    assert markdown.md("a|b <i>") == r"a\|b &lt;i&gt;"
    assert markdown.md("[x](javascript:1)") == r"\[x\]\(javascript:1\)"


def test_inline_html_is_self_contained_and_escaped(report: AuditReport, tmp_path: Path) -> None:
    write_report(report, tmp_path, ALL)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower() and PAYLOAD not in html and IMG_PAYLOAD not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert " style=" not in html and "<style>" in html and "<link" not in html
    sources = re.findall(r'<img src="([^"]*)"', html)
    figures = [f for c in report.checks for f in c.figures]
    assert len(sources) == len(figures) > 0
    for src, figure in zip(sources, figures):
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == figure.png
    assert "Not measured" in html and "disabled in the config" in html


def test_folder_mode_writes_css_and_pngs_beside_the_page(report: AuditReport, tmp_path: Path) -> None:
    written = write_report(report, tmp_path, ["html"], WriteOptions(html_mode="folder"))
    assert [p.name for p in written] == ["report.html", "report.css"]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "data:" not in html and "<style>" not in html and " style=" not in html
    assert '<link rel="stylesheet" href="report.css">' in html
    for src in re.findall(r'<img src="([^"]*)"', html):
        assert (tmp_path / src).read_bytes().startswith(b"\x89PNG")


def test_rewrites_replace_old_images_and_interrupted_writes_keep_the_old_report(
    report: AuditReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "stale.png").write_bytes(b"old")
    write_report(report, tmp_path, ["json"])
    assert not (tmp_path / "images" / "stale.png").exists()
    before = (tmp_path / "report.json").read_bytes()

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(junit, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(report, tmp_path, ["json", "junit"])
    assert (tmp_path / "report.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "report.json"]


def test_markdown_names_each_threshold_beside_the_figure(report: AuditReport) -> None:
    """A check whose only criterion is not its headline figure must not show that threshold as the figure's."""
    other = C.Criterion("highest per-class flip rate", 0.3, "<=", 0.25)
    check = dataclasses.replace(
        report.check("accuracy"), figure_name="flip rate", figure=0.01, criteria=(other,)
    )
    text = markdown.render(dataclasses.replace(report, checks=(check,)))
    row = next(line for line in text.splitlines() if line.startswith("| accuracy |"))
    assert "highest per\\-class flip rate <= 0.25" in row
