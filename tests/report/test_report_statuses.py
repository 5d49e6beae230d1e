"""Honest statuses in every format: a check without a threshold is "reported" (informational, never
"passed"), and a check a limit stopped is "partial" with the figures of the units it finished."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from workspace import build

from auditor.audit import checks
from auditor.audit.config import load_config
from auditor.audit.results import AuditReport
from auditor.audit.runner import local_mapper, run_audit
from auditor.audit.verdict import exit_code
from auditor.report.writer import write_report

ALL = ("html", "json", "junit", "sarif", "markdown")


def stop_after(units: int) -> Any:
    """A mapper that runs units locally and, after `units` of them, lets the check's deadline pass (as a
    slow model would): the next unit's first model call is refused."""

    def mapper(check: Any, ctx: checks.Context, settings: Any, planned: list[Any]) -> Iterator[Any]:
        for done, item in enumerate(local_mapper(check, ctx, settings, planned), start=1):
            yield item
            if done == units:
                budget = ctx.blackbox.runner.budget
                assert budget is not None
                budget.start_check(3600.0)
                budget.deadline = time.monotonic() - 1.0

    return mapper


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AuditReport:
    """Accuracy without a threshold; attributions (4 units) stopped after 2; the rest as configured."""
    config = load_config(build(tmp_path_factory.mktemp("ws")))
    accuracy = dataclasses.replace(config.checks.accuracy, min=None)
    attributions = dataclasses.replace(config.checks.attributions, samples=4, min_faithful=0.5)
    config = dataclasses.replace(
        config, checks=dataclasses.replace(config.checks, accuracy=accuracy, attributions=attributions)
    )
    ctx = checks.Context.open(config)
    others = tuple(check for check in checks.listed_checks(config) if check is not checks.ATTRIBUTIONS)
    first = run_audit(config, ctx, checks=others)
    partial = run_audit(config, ctx, mapper=stop_after(2), checks=(checks.ATTRIBUTIONS,))
    return dataclasses.replace(first, checks=(*first.checks, *partial.checks))


@pytest.fixture(scope="module")
def written(report: AuditReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    write_report(report, out, ALL)
    return out


def test_no_threshold_is_reported_and_does_not_fail(report: AuditReport) -> None:
    accuracy = report.check("accuracy")
    assert accuracy.status == "reported" and accuracy.criteria == ()
    assert (
        accuracy.figure is not None and accuracy.reason == "no threshold set; the figures are reported only"
    )
    assert report.check("provenance").status == "reported"  # facts recorded, nothing judged
    assert report.verdict == "pass" and exit_code(report, "failed") == 0


def test_reported_in_json(written: Path) -> None:
    doc = json.loads((written / "report.json").read_text())
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert statuses["accuracy"] == "reported" and statuses["provenance"] == "reported"
    assert "passed" not in {statuses["accuracy"], statuses["provenance"]}


def test_reported_in_junit_as_a_passing_informational_case(written: Path) -> None:
    root = ET.parse(written / "junit.xml").getroot()
    case = next(c for c in root.iter("testcase") if c.get("name") == "accuracy")
    assert case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["status"] == "reported"
    assert "reported (informational)" in (case.findtext("system-out") or "")


def test_reported_in_sarif_as_informational(written: Path) -> None:
    doc = json.loads((written / "report.sarif").read_text())
    result = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "auditor/accuracy")
    assert result["kind"] == "informational" and result["level"] == "none"
    assert result["properties"]["status"] == "reported"


def test_reported_in_markdown(written: Path) -> None:
    row = next(
        line for line in (written / "summary.md").read_text().splitlines() if line.startswith("| accuracy")
    )
    assert "reported" in row and "passed" not in row and "✅" not in row


def test_reported_in_html(written: Path) -> None:
    html = (written / "report.html").read_text()
    row = re.search(r'<tr>\s*<td><a href="#check-accuracy">.*?</tr>', html, re.S)
    assert row is not None
    assert 'class="badge badge-reported">reported<' in row.group(0) and "badge-passed" not in row.group(0)


def test_a_check_stopped_by_its_time_limit_keeps_the_units_it_finished(report: AuditReport) -> None:
    result = report.check("attributions")
    assert result.status == "partial" and result.limit_reached
    assert (result.units, result.units_finished) == (4, 2)
    maps = result.details["maps"]
    assert len(maps) == 2  # one method, two inputs: the figures of the finished units
    assert result.figure == pytest.approx(sum(m["faithful"] for m in maps) / 2)
    reason = result.reason or ""
    assert reason.startswith("not finished: ") and ("time limit" in reason or "time budget" in reason)
    assert "2 of 4 units finished" in reason
    assert 0 < result.queries <= sum(m["queries"] for m in maps) + 2  # each input's own prediction too
    assert report.verdict == "pass"  # partial figures are reported, not judged
    assert exit_code(report, "failed") == 0 and exit_code(report, "any") == 1


def test_partial_in_every_format(report: AuditReport, written: Path) -> None:
    doc = json.loads((written / "report.json").read_text())
    entry = next(c for c in doc["checks"] if c["name"] == "attributions")
    assert (entry["status"], entry["units"], entry["units_finished"]) == ("partial", 4, 2)
    case = next(
        c
        for c in ET.parse(written / "junit.xml").getroot().iter("testcase")
        if c.get("name") == "attributions"
    )
    skipped = case.find("skipped")
    assert skipped is not None and (skipped.get("message") or "").startswith("partial: ")
    sarif = json.loads((written / "report.sarif").read_text())
    result = next(r for r in sarif["runs"][0]["results"] if r["ruleId"] == "auditor/attributions")
    assert result["kind"] == "open" and result["level"] == "none"
    assert "⏳ partial" in (written / "summary.md").read_text()
    assert "badge-partial" in (written / "report.html").read_text()
