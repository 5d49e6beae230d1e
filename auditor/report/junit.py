"""junit.xml: one test case per check (failed: <failure>, not run or partial: <skipped>, check error: <error>;
reported: a passing case marked informational). Each case carries its status as a property."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from auditor.audit.results import AuditReport, CheckResult
from auditor.report.interface import WriteOptions, fmt, xml_text

FILENAME = "junit.xml"


def _summary(check: CheckResult) -> str:
    lines = [f"status: {check.status}"]
    if check.status == "reported":
        lines.append("reported (informational): no threshold is set, so this check cannot fail")
    lines.append(f"{check.figure_name or 'figure'}: {fmt(check.figure)}")
    lines += [
        f"{test.name}: {fmt(test.value)} (must be {test.op} {fmt(test.threshold)})" for test in check.criteria
    ]
    lines.append(f"queries: {check.queries}")
    return "\n".join(lines)


def render(report: AuditReport) -> bytes:
    checks = report.checks
    counts = {
        "tests": str(len(checks)),
        "failures": str(sum(check.status == "failed" for check in checks)),
        "errors": str(sum(check.error for check in checks)),
        "skipped": str(sum(check.status in ("not_run", "partial") and not check.error for check in checks)),
        "time": f"{report.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": "onnx-auditor", **counts})
    suite = ET.SubElement(
        root, "testsuite", {"name": xml_text(f"audit {Path(report.model_path).name}"), **counts}
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("model", report.model_path),
        ("sha256", report.provenance.get("sha256", "")),
        ("seed", report.seed),
        ("verdict", report.verdict),
        ("tool_version", report.tool_version),
    ):
        ET.SubElement(props, "property", {"name": name, "value": xml_text(value)})
    for check in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "auditor.audit", "name": check.name, "time": f"{check.seconds:.3f}"},
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", {"name": "status", "value": check.status})
        if check.error:
            ET.SubElement(case, "error", {"message": xml_text(check.reason or ""), "type": "check_error"})
        elif check.status == "not_run":
            ET.SubElement(case, "skipped", {"message": xml_text(check.reason or "not run")})
        elif check.status == "partial":
            ET.SubElement(case, "skipped", {"message": xml_text(f"partial: {check.reason or ''}")})
        elif check.status == "failed":
            failure = ET.SubElement(
                case, "failure", {"message": xml_text(check.reason or ""), "type": "threshold"}
            )
            failure.text = xml_text(_summary(check))
        if check.status != "not_run":
            ET.SubElement(case, "system-out").text = xml_text(_summary(check))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write(report: AuditReport, folder: Path, options: WriteOptions) -> None:
    (folder / FILENAME).write_bytes(render(report))
