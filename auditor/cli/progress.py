"""What `auditor audit` shows on stderr: progress while the checks run, one line per check at the end."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TextIO

from auditor.audit.plan import AuditPlan
from auditor.audit.results import AuditReport
from auditor.cli.output import printable
from auditor.report.interface import fmt, status_word

PROGRESS_EVERY_S = 5.0
BAR_WIDTH = 24


class TerminalProgress:
    """Progress of the audit's checks on stderr, with the time left for the check and for the whole audit.

    On a terminal, one bar redrawn in place; on anything else (CI logs, a pipe), plain lines when a check
    starts and ends and at most every few seconds in between. The time left is the check's pace so far
    over its remaining units (its planned estimate before the first unit ends), plus the planned seconds
    of the checks after it.
    """

    def __init__(
        self,
        stream: TextIO,
        quiet: bool,
        plan: AuditPlan | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.clock = clock
        self.planned = {c.name: c.seconds for c in plan.checks if c.skipped is None} if plan else {}
        self.check: str | None = None
        self.started = 0.0
        self.last = -math.inf

    def __call__(self, check: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = self.clock()
        if check != self.check:
            self.check, self.started = check, now
        left = self.check_left(now, done, total)
        eta = self.eta(check, left)
        if self.tty:
            filled = BAR_WIDTH * done // max(total, 1)
            end = "\n" if done == total else ""
            bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
            self.stream.write(f"\r\x1b[K{check:<16} {bar} {done}/{total}{eta}{end}")
            self.stream.flush()
        elif done == 0 or done == total or now - self.last >= PROGRESS_EVERY_S:
            state = "started" if done == 0 else "done" if done == total else "running"
            self.stream.write(f"auditor: {check}: {state} ({done}/{total} units{eta.replace('  ', '; ')})\n")
            self.stream.flush()
            self.last = now

    def check_left(self, now: float, done: int, total: int) -> float | None:
        """Seconds the current check still needs: its pace so far, else its planned estimate."""
        if done >= total:
            return 0.0
        if done > 0:
            return (now - self.started) * (total - done) / done
        return self.planned.get(self.check or "")

    def eta(self, check: str, left: float | None) -> str:
        """'  ~12 s left, audit ~1 min' (what is known of it); '' when nothing is."""
        if left is None:
            return ""
        names = list(self.planned)
        later = names[names.index(check) + 1 :] if check in names else []
        text = f"  ~{duration(left)} left"
        if later:
            text += f", audit ~{duration(left + sum(self.planned[name] for name in later))}"
        return text


def duration(seconds: float) -> str:
    """A short time: '<1 s', '42 s', '3 min', '1.5 h'."""
    if seconds < 1:
        return "<1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
