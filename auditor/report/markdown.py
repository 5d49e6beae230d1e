"""summary.md: the verdict table for $GITHUB_STEP_SUMMARY or a pull-request comment, details folded."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.audit.results import AuditReport
from auditor.report.interface import WriteOptions, fmt, status_word

FILENAME = "summary.md"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md(value: object, limit: int = 300) -> str:
    """Untrusted text for one Markdown table cell: HTML-escaped, Markdown-escaped, on one line."""
    text = " ".join(str(value).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def render(report: AuditReport) -> str:
    icon = {"passed": "✅", "failed": "❌", "reported": "ℹ️", "partial": "⏳", "not_run": "⚪"}
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
    for check in report.checks:
        figure = f"{md(check.figure_name)} {fmt(check.figure)}" if check.figure is not None else "—"
        threshold = (
            "; ".join(f"{md(test.name)} {test.op} {fmt(test.threshold)}" for test in check.criteria) or "—"
        )
        lines.append(
            f"| {check.name} | {icon[check.status]} {status_word(check.status)} | {figure} | {threshold} | "
            f"{check.queries:,} |"
        )
    lines += [
        "",
        "_reported_: measured, no threshold set (informational, never fails the audit); _partial_: a limit "
        "stopped the check, its figures cover the units it finished.",
    ]
    not_measured = report.not_measured
    if not_measured:
        lines += ["", "**Not measured**", ""]
        lines += [f"- {check.name}: {md(check.reason or '')}" for check in not_measured]
    lines += plan_lines(report)
    for check in report.checks:
        if not check.criteria and not check.reason:
            continue
        lines += ["", f"<details><summary>{check.name}: {status_word(check.status)}</summary>", ""]
        if check.reason:
            lines += [md(check.reason, 1000), ""]
        for test in check.criteria:
            mark = "✅" if test.passed else "❌"
            lines.append(
                f"- {mark} {md(test.name)}: {fmt(test.value)} (must be {test.op} {fmt(test.threshold)})"
            )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def plan_lines(report: AuditReport) -> list[str]:
    """The plan: estimated against actual time, and every setting reduced to fit the time budget, with why."""
    plan = report.plan
    if plan is None:
        return []
    budget = f"a time budget of {plan.time_budget:g} s" if plan.time_budget is not None else "no time budget"
    lines = [
        "",
        f"**Plan**: ~{plan.estimated_seconds:.1f} s estimated for {budget}; the audit took {report.seconds:.1f} s.",
    ]
    if plan.replans:
        lines += [
            f"Up front the estimate was ~{plan.upfront_seconds or 0:.1f} s; {md(why)}."
            for why in plan.replans
        ]
    reduced = [p for p in plan.checks if p.reductions]
    if not reduced:
        return [*lines, "Nothing was reduced."]
    lines += ["", f"Reduced {md(reduced[0].reductions[0].why)}:", ""]
    for entry in reduced:
        cuts = "; ".join(f"{md(r.text())}" for r in entry.reductions)
        lines.append(f"- {entry.name}: {cuts}")
    return lines


def write(report: AuditReport, folder: Path, options: WriteOptions) -> None:
    (folder / FILENAME).write_text(render(report), encoding="utf-8")
