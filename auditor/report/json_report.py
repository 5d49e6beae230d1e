"""report.json: every figure of the audit with its provenance, under a versioned schema."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.audit.results import AuditReport
from auditor.report.interface import WriteOptions

FILENAME = "report.json"


def render(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write(report: AuditReport, folder: Path, options: WriteOptions) -> None:
    (folder / FILENAME).write_text(render(report), encoding="utf-8")
