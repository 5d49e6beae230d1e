"""What `auditor audit` shows on stderr: progress while the checks run, one line per check at the end."""

from __future__ import annotations

import time
from typing import TextIO

from auditor.audit.results import AuditReport
from auditor.cli.output import printable
from auditor.report.interface import fmt, status_word

PROGRESS_EVERY_S = 5.0


class TerminalProgress:
    """A bar on a terminal; on anything else, plain lines on stderr at most every few seconds."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, check: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            width = 24
            filled = width * done // max(total, 1)
            end = "\n" if done == total else ""
            self.stream.write(f"\r{check:<16} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
            self.stream.flush()
        elif done == 0 or done == total or now - self.last >= PROGRESS_EVERY_S:
            state = "started" if done == 0 else "done" if done == total else "running"
            self.stream.write(f"auditor: {check}: {state} ({done}/{total} units)\n")
            self.stream.flush()
            self.last = now


def summary_lines(report: AuditReport) -> list[str]:
    """One line per check (status, headline figure, why it did not pass), then the verdict."""
    lines = []
    for check in report.checks:
        figure = f" {check.figure_name} {fmt(check.figure)}" if check.figure is not None else ""
        why = f" ({printable(check.reason, 300)})" if check.reason and check.status != "passed" else ""
        lines.append(f"auditor: {check.name:<16} {status_word(check.status):<8}{printable(figure, 200)}{why}")
    lines.append(
        f"auditor: verdict {report.verdict.upper()} ({report.queries:,} queries, {report.seconds:.1f} s)"
    )
    return lines
