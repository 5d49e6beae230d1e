"""A fleet's reports: one folder per model (every format its config asks for) and an index beside them.

The index is index.html (a table linking each model's report), index.json (`FleetResult.to_dict`),
junit.xml (one test suite per model: its checks as test cases) and summary.md. Model names are ours
(checked folder names); every other string may come from a model or its files and is escaped.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from markupsafe import Markup

from auditor.audit.fleet import FleetAudit, FleetResult
from auditor.errors import ConfigError
from auditor.report import junit
from auditor.report.html import css, environment
from auditor.report.interface import WriteOptions, fmt, status_word, xml_text
from auditor.report.markdown import md
from auditor.report.writer import TMP_PREFIX, write_report

INDEX_FILES = ("index.html", "index.json", "junit.xml", "summary.md")


def write_fleet(result: FleetResult, out: Path) -> list[Path]:
    """Write each audited model's report into out/NAME, then the index files into out; return the index files."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    for audit in result.audits:
        if audit.report is not None and audit.config is not None:
            run = audit.config.run
            write_report(audit.report, out / audit.name, run.formats, WriteOptions(html_mode=run.html_mode))
    staging = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out))
    try:
        doc = result.to_dict()
        (staging / "index.json").write_text(
            json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8"
        )
        (staging / "index.html").write_text(render_html(result), encoding="utf-8")
        (staging / "junit.xml").write_bytes(render_junit(result))
        (staging / "summary.md").write_text(render_markdown(result), encoding="utf-8")
        written = []
        for name in INDEX_FILES:
            os.replace(staging / name, out / name)
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def report_link(audit: FleetAudit) -> str | None:
    """The model's main report file, relative to the index: report.html, else report.json, else None."""
    if audit.report is None or audit.config is None:
        return None
    formats = audit.config.run.formats
    if "html" in formats:
        return f"{audit.name}/report.html"
    return f"{audit.name}/report.json" if "json" in formats else None


def others(checks: dict[str, int]) -> str:
    """The checks neither passed nor failed, by status: '2 not run, 1 reported'."""
    return ", ".join(
        f"{count} {status_word(status)}"
        for status, count in checks.items()
        if status not in ("passed", "failed")
    )


def render_html(result: FleetResult) -> str:
    doc = result.to_dict()
    context = {
        "fleet": doc,
        "links": {audit.name: report_link(audit) for audit in result.audits},
        "others": {audit.name: others(row["checks"]) for audit, row in zip(result.audits, doc["models"])},
        "inline_css": Markup(css()),  # our own packaged file, not user input
    }
    return environment().get_template("index.html.j2").render(context)


def render_junit(result: FleetResult) -> bytes:
    """One <testsuite> per model: its report's suite renamed after the model, or one error case."""
    root = ET.Element("testsuites", {"name": "onnx-auditor fleet"})
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for audit in result.audits:
        if audit.report is not None:
            suite = ET.fromstring(junit.render(audit.report)).find("testsuite")
            assert suite is not None  # junit.render writes one
        else:
            suite = ET.Element(
                "testsuite", {"tests": "1", "failures": "0", "errors": "1", "skipped": "0", "time": "0.000"}
            )
            case = ET.SubElement(
                suite, "testcase", {"classname": "auditor.fleet", "name": "open", "time": "0"}
            )
            ET.SubElement(case, "error", {"message": xml_text(audit.error or ""), "type": "input_error"})
        suite.set("name", f"audit {audit.name}")
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{result.seconds:.3f}")
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def render_markdown(result: FleetResult) -> str:
    icon = {0: "✅", 1: "❌", 2: "⚠️"}
    lines = [
        f"## onnx-auditor fleet: exit code {result.exit_code} — {len(result.audits)} models",
        "",
        "| model | verdict | exit | passed | failed | other | queries | time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for audit in result.audits:
        row = audit.to_dict()
        checks = row["checks"]
        failed = f"{checks['failed']}" + (
            f" ({md(', '.join(row['failed_checks']))})" if row["failed_checks"] else ""
        )
        lines.append(
            f"| {md(audit.name)} | {icon.get(audit.exit_code, '')} {md(row['verdict'])} | {audit.exit_code} "
            f"| {checks['passed']} | {failed} | {md(others(checks)) or '—'} | {fmt(row['queries'])} | {row['seconds']:.1f} s |"
        )
    errors = [audit for audit in result.audits if audit.error]
    if errors:
        lines += ["", *[f"- **{md(audit.name)}**: {md(audit.error, 500)}" for audit in errors]]
    return "\n".join(lines) + "\n"
