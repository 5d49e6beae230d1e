"""report.sarif: SARIF 2.1.0 for code scanning; one rule per check, results located at the model file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor.audit.results import AuditReport, CheckResult
from auditor.report.interface import WriteOptions, fmt

FILENAME = "report.sarif"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/onnx-auditor/onnx-auditor"


def artifact_location(model_path: str) -> dict[str, str]:
    """The model's path relative to the working directory (the repository root in CI), else a file URI; percent-encoded."""
    path = Path(model_path).resolve()
    try:
        return {"uri": quote(path.relative_to(Path.cwd().resolve()).as_posix()), "uriBaseId": "%SRCROOT%"}
    except ValueError:
        return {"uri": path.as_uri()}


def _result(check: CheckResult, index: int, location: dict[str, Any], sha256: str) -> dict[str, Any]:
    if check.status == "failed":
        kind, level = "fail", "error"
    elif check.error:
        kind, level = "fail", "warning"
    elif check.status == "not_run":
        kind, level = "notApplicable", "none"
    elif check.status == "partial":
        kind, level = "open", "none"  # evaluated in part: undetermined
    elif check.status == "reported":
        kind, level = "informational", "none"
    else:
        kind, level = "pass", "none"
    text = f"{check.title}: {check.status.replace('_', ' ')}"
    if check.figure is not None:
        text += f"; {check.figure_name} {fmt(check.figure)}"
    if check.reason:
        text += f" ({check.reason})"
    return {
        "ruleId": f"auditor/{check.name}",
        "ruleIndex": index,
        "kind": kind,
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": location, "region": {"startLine": 1}}}],
        "partialFingerprints": {"auditorCheck/v1": f"{sha256}:{check.name}"},
        "properties": {
            "status": check.status,
            "figure": check.figure,
            "threshold": check.threshold,
            "queries": check.queries,
        },
    }


def render(report: AuditReport) -> dict[str, Any]:
    location = artifact_location(report.model_path)
    sha256 = str(report.provenance.get("sha256", ""))
    rules = [
        {
            "id": f"auditor/{check.name}",
            "name": check.name,
            "shortDescription": {"text": check.title},
            "helpUri": INFO_URI,
            "defaultConfiguration": {"level": "error"},
        }
        for check in report.checks
    ]
    artifact: dict[str, Any] = {"location": location}
    if sha256:
        artifact["hashes"] = {"sha-256": sha256}
    if isinstance(report.provenance.get("size"), int):
        artifact["length"] = report.provenance["size"]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "onnx-auditor",
                        "version": report.tool_version,
                        "informationUri": INFO_URI,
                        "rules": rules,
                    }
                },
                "artifacts": [artifact],
                "invocations": [{"executionSuccessful": not any(check.error for check in report.checks)}],
                "results": [_result(check, i, location, sha256) for i, check in enumerate(report.checks)],
                "properties": {"verdict": report.verdict, "seed": report.seed},
            }
        ],
    }


def write(report: AuditReport, folder: Path, options: WriteOptions) -> None:
    text = json.dumps(render(report), indent=2, ensure_ascii=False, allow_nan=False)
    (folder / FILENAME).write_text(text + "\n", encoding="utf-8")
