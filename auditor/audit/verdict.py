"""What an audit report means for a pipeline: bad input (exit 2), a missed threshold (1), or a pass (0)."""

from __future__ import annotations

from auditor.audit.results import AuditReport, Stage

FAIL_ON = ("failed", "any", "never")  # exit 1 on a missed threshold; also on a check not run; never


def problem(report: AuditReport) -> str | None:
    """Why the audit counts as bad input (exit 2): a check raised an input error, or no requested check could run."""
    broken = [c for c in report.checks if c.error]
    if broken:
        return f"{broken[0].name}: {broken[0].reason}; fix the input or set enabled = false for this check"
    wanted = [c for c in report.checks if c.stage is Stage.MEASURE and c.enabled and not c.limit_reached]
    if wanted and all(c.status == "not_run" for c in wanted):
        return "no check could run: " + "; ".join(f"{c.name}: {c.reason}" for c in wanted)
    return None


def exit_code(report: AuditReport, fail_on: str) -> int:
    """0 when the policy is met, 1 when a threshold was missed (or, with 'any', a check did not run), 2 on bad input."""
    if fail_on == "never":
        return 0
    if problem(report):
        return 2
    if any(c.status == "failed" for c in report.checks):
        return 1
    if fail_on == "any" and report.not_measured:
        return 1
    return 0
