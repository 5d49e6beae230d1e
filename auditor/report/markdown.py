"""summary.md: the verdict table for $GITHUB_STEP_SUMMARY or a pull-request comment, details folded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.report.interface import WriteOptions, fmt, status_word

if TYPE_CHECKING:
    from auditor.audit.runner import AuditReport

FILENAME = "summary.md"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md(value: object, limit: int = 300) -> str:
    """Untrusted text for one Markdown table cell: HTML-escaped, Markdown-escaped, on one line."""
    text = " ".join(str(value).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def render(report: AuditReport) -> str:
    icon = {"passed": "✅", "failed": "❌", "not_run": "⚪"}
    verdict = "PASS" if report.verdict == "pass" else "FAIL"
    lines = [
        f"## onnx-auditor: {verdict} — {md(Path(report.model_path).name)}",
        "",
        f"SHA-256 `{md(report.provenance.get('sha256', ''))}` · seed {report.seed} · {report.queries:,} queries · "
        f"{report.seconds:.1f} s",
        "",
        "| check | status | figure | threshold | queries |",
        "|---|---|---|---|---|",
    ]
    for c in report.checks:
        figure = f"{md(c.figure_name)} {fmt(c.figure)}" if c.figure is not None else "—"
        threshold = "; ".join(f"{md(k.name)} {k.op} {fmt(k.threshold)}" for k in c.criteria) or "—"
        lines.append(
            f"| {c.name} | {icon[c.status]} {status_word(c.status)} | {figure} | {threshold} | {c.queries:,} |"
        )
    missing = report.not_measured
    if missing:
        lines += ["", "**Not measured**", ""]
        lines += [f"- {c.name}: {md(c.reason or '')}" for c in missing]
    for c in report.checks:
        if not c.criteria and not c.reason:
            continue
        lines += ["", f"<details><summary>{c.name}: {status_word(c.status)}</summary>", ""]
        if c.reason:
            lines += [md(c.reason, 1000), ""]
        for k in c.criteria:
            mark = "✅" if k.passed else "❌"
            lines.append(f"- {mark} {md(k.name)}: {fmt(k.value)} (must be {k.op} {fmt(k.threshold)})")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write(report: AuditReport, folder: Path, options: WriteOptions) -> None:
    (folder / FILENAME).write_text(render(report), encoding="utf-8")
