"""Progress on stderr: a bar with the time left on a terminal, plain lines in CI logs and pipes."""

from __future__ import annotations

import io

from auditor.audit.plan import AuditPlan, CheckPlan, Cost
from auditor.cli.progress import TerminalProgress, duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plan() -> AuditPlan:
    checks = (
        CheckPlan("stability", None, units=4, seconds=8.0),
        CheckPlan("exemplars", None, skipped="disabled"),
        CheckPlan("counterfactuals", None, units=2, seconds=120.0),
    )
    return AuditPlan(None, Cost(0.001, 1e-5, 0.0, {}, 1000.0, 64, 1, "timed"), checks)


def test_the_bar_shows_the_pace_of_the_check_and_the_audit_left() -> None:
    stream, clock = Terminal(), Clock()
    progress = TerminalProgress(stream, quiet=False, plan=plan(), clock=clock)
    progress("stability", 0, 4)
    assert stream.getvalue().endswith("0/4  ~8 s left, audit ~2 min")  # the plan's estimates
    clock.now += 30.0  # slower than planned: 15 s a unit
    progress("stability", 2, 4)
    assert stream.getvalue().endswith("[############............] 2/4  ~30 s left, audit ~2 min")
    progress("stability", 4, 4)
    assert stream.getvalue().endswith("4/4  ~<1 s left, audit ~2 min\n")
    progress("counterfactuals", 0, 2)
    assert stream.getvalue().endswith("counterfactuals  [........................] 0/2  ~2 min left")
    assert stream.getvalue().count("\r") == 4


def test_plain_lines_off_a_terminal_at_most_every_few_seconds() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, quiet=False, plan=plan(), clock=clock)
    for done in range(5):
        progress("stability", done, 4)
        clock.now += 1.0
    lines = stream.getvalue().splitlines()
    assert lines == [
        "auditor: stability: started (0/4 units; ~8 s left, audit ~2 min)",
        "auditor: stability: done (4/4 units; ~<1 s left, audit ~2 min)",
    ]
    assert "\r" not in stream.getvalue()
    quiet = io.StringIO()
    TerminalProgress(quiet, quiet=True)("stability", 0, 4)
    assert quiet.getvalue() == ""


def test_without_a_plan_the_check_pace_alone() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, quiet=False, clock=clock)
    progress("accuracy", 0, 3)
    clock.now += 6.0
    progress("accuracy", 1, 3)
    assert stream.getvalue().splitlines() == [
        "auditor: accuracy: started (0/3 units)",
        "auditor: accuracy: running (1/3 units; ~12 s left)",
    ]
    assert [duration(s) for s in (0.2, 42, 200, 9000)] == ["<1 s", "42 s", "3 min", "2.5 h"]
