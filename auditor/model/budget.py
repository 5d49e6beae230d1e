"""Spending limits an audit sets on a model: rows it may still send in total, and the running check's deadline.

Attach one to a runner (`blackbox.runner.budget = Budget(queries=50_000)`); every batch is charged
before it is sent, so the total is never exceeded, and a batch asked for after the deadline is refused,
as is each further chunk of a large batch (a predict of many rows stops within one call of the deadline).
The refusal is a NotFinished error, which the audit runner reports as the check not finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from auditor.errors import NotFinished


class BudgetExhausted(NotFinished):
    """The audit's query budget or the running check's time limit is spent."""


class Budget:
    """Rows left to send (None: no cap) and a `time.monotonic()` deadline for the current check (None: none)."""

    def __init__(self, queries: int | None = None, deadline: float | None = None) -> None:
        self.queries = queries
        self.deadline = deadline
        self.seconds: float | None = None  # the running check's limit, for the message
        self.spent = 0

    def start_check(self, seconds: float | None) -> None:
        """Set the deadline for the check about to run: `seconds` from now, or none."""
        self.seconds = seconds or None
        self.deadline = time.monotonic() + seconds if seconds else None

    def check_time(self) -> None:
        """Raise BudgetExhausted once the running check's deadline has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            limit = f" of {self.seconds:g} s" if self.seconds else ""
            raise BudgetExhausted(
                f"not finished: the check ran past its time limit{limit} (raise [run] check_timeout or the check's timeout)"
            )

    def charge(self, rows: int) -> None:
        """Take `rows` from the budget before they are sent; raise BudgetExhausted when they do not fit."""
        self.check_time()
        if self.queries is not None and self.spent + rows > self.queries:
            raise BudgetExhausted(
                f"not finished: the audit's budget of {self.queries:,} queries is spent ({self.spent:,} sent; "
                "raise [run] max_queries)"
            )
        self.spent += rows

    def refund(self, rows: int) -> None:
        """Give back `rows` charged but never sent (a call stopped part-way)."""
        self.spent -= rows

    def record(self, rows: int) -> None:
        """Count `rows` that another process sent on this budget's behalf (checked there against what was left)."""
        self.spent += rows

    def allowance(self) -> Allowance:
        """What is left of this budget now, to carry to another process (whose monotonic clock is its own)."""
        left = self.deadline - time.monotonic() if self.deadline is not None else None
        return Allowance(self.queries, self.spent, self.seconds, left)


@dataclass(frozen=True)
class Allowance:
    """A budget carried to another process: the audit's cap, rows spent so far, the check's limit and its seconds left."""

    queries: int | None
    spent: int
    seconds: float | None
    left: float | None

    def budget(self) -> Budget:
        """A budget in this process that refuses what the original would (its deadline on this clock)."""
        budget = Budget(self.queries)
        budget.spent = self.spent
        budget.seconds = self.seconds
        budget.deadline = time.monotonic() + self.left if self.left is not None else None
        return budget
