"""What an audit plans before it runs: each check's estimated work and seconds, and what was reduced to fit.

A check's `Work` is what its settings allow it to send (searches that stop early on success send less);
`Cost` turns work into seconds from measured timings: a classifier call costs `call` + rows · `row`
(fitted on the calibration's timed batches), a generator row `generator_row`, a text tokenized before
its row is scored `text_row`, and one generation of one search the step time measured for its method
and size. The runner gives each check the time left in
[run] time_budget minus what the later checks are planned to need (`AuditPlan.time_limit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from auditor.jsonable import jsonable

#: The plan aims at this share of the time budget, leaving room for estimates that run short.
FILL = 0.85
#: Seconds a check may take beyond its estimate when the later checks' reserve leaves it less (timer noise).
GRACE = 0.5
#: Work within this share of the target is left as it is (no cut of a few percent).
CLOSE_ENOUGH = 0.95
#: Class names listed in a plan line on the terminal (report.json lists them all).
LISTED_CLASSES = 12

SettingsT = TypeVar("SettingsT")
Search = tuple[str, int]  # (search method, dimension searched)


@dataclass(frozen=True)
class Work:
    """What a check will do at most: classifier rows and calls, generator rows, search generations."""

    queries: int
    calls: int
    generator_rows: int = 0
    steps: dict[Search, int] = field(default_factory=dict)  # generations summed over searches, by search
    classes: tuple[int, ...] | None = None  # the classes a per-class check covers
    texts: int = 0  # texts tokenized on our side before they are scored (a text classifier's checks)


@dataclass(frozen=True)
class Cost:
    """Measured seconds: a classifier call is `call` + rows · `row`; a generator row; one search generation."""

    call: float
    row: float
    generator_row: float
    steps: dict[Search, float]  # seconds of one generation of one search (ask, tell, bookkeeping)
    rows_per_second: float  # the classifier at its chosen batch size
    batch_size: int
    threads: int
    source: str  # "calibration": the black box's own timings; "timed": timed for the plan
    text_row: float = 0.0  # seconds to tokenize one text (a text classifier's; ten times its ORT row here)

    def seconds(self, work: Work) -> float:
        search = sum(count * self.steps.get(key, 0.0) for key, count in work.steps.items())
        return (
            work.calls * self.call
            + work.queries * self.row
            + work.generator_rows * self.generator_row
            + work.texts * self.text_row
            + search
        )

    def scaled(self, factor: float) -> Cost:
        """These timings `factor` times slower (a machine that turned out busier than when it was timed)."""
        return replace(
            self,
            call=self.call * factor,
            row=self.row * factor,
            generator_row=self.generator_row * factor,
            text_row=self.text_row * factor,
            steps={key: value * factor for key, value in self.steps.items()},
            rows_per_second=self.rows_per_second / factor,
            source=f"{self.source}, x{factor:.2f} as measured",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_per_second": self.rows_per_second,
            "call_seconds": self.call,
            "row_seconds": self.row,
            "generator_row_seconds": self.generator_row,
            "text_row_seconds": self.text_row,
            "search_step_seconds": {f"{method}:{dim}": value for (method, dim), value in self.steps.items()},
            "batch_size": self.batch_size,
            "threads": self.threads,
            "source": self.source,
        }


@dataclass(frozen=True)
class Reduction:
    """One setting cut to fit the time budget: from what, to what, and why."""

    setting: str
    before: Any
    after: Any
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "before": self.before, "after": self.after, "why": self.why}

    def text(self) -> str:
        return f"{self.setting} {_short(self.before)} → {_short(self.after)}"


@dataclass(frozen=True)
class CheckPlan:
    """One check's plan: its units and estimated work and seconds, or why it will not run."""

    name: str
    settings: Any = field(repr=False, compare=False)  # the settings it runs with (reductions applied)
    units: int = 0
    queries: int = 0
    generator_queries: int = 0
    seconds: float = 0.0
    reductions: tuple[Reduction, ...] = ()
    classes: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | None = None
    classes_chosen: str | None = None  # how the classes were chosen ("all 10 classes", "auto (...)")
    skipped: str | None = None  # why the check will not run (disabled, a prerequisite missing, no time)
    out_of_time: bool = False  # left out because it does not fit the time budget (`skipped` says so)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "runs": self.skipped is None,
            "units": self.units,
            "queries": self.queries,
            "generator_queries": self.generator_queries,
            "estimated_seconds": self.seconds,
            "reduced": [r.to_dict() for r in self.reductions],
            "classes": list(self.classes) if self.classes is not None else None,
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "classes_chosen": self.classes_chosen,
        }
        if self.skipped is not None:
            doc["skipped"] = self.skipped
            doc["out_of_time"] = self.out_of_time
        return doc

    def line(self) -> str:
        """One terminal line: the check, its estimate, what was reduced, the classes it covers."""
        if self.skipped is not None:
            return f"{self.name:<16} not run: {self.skipped}"
        text = f"{self.name:<16} ≤ {self.queries:>9,} queries  ~{self.seconds:7.1f} s  {self.units} unit(s)"
        if self.class_names is not None:
            shown = ", ".join(self.class_names[:LISTED_CLASSES])
            more = len(self.class_names) - LISTED_CLASSES
            text += f"; classes ({len(self.class_names)}): {shown}" + (
                f" … and {more} more" if more > 0 else ""
            )
        if self.reductions:
            text += "; reduced: " + ", ".join(r.text() for r in self.reductions)
        return text


@dataclass(frozen=True)
class AuditPlan:
    """The whole plan: the time budget, the measured costs, each check's plan, and what planning itself spent."""

    time_budget: float | None  # seconds for the whole audit; None: no budget
    cost: Cost
    checks: tuple[CheckPlan, ...]
    queries: int = 0  # classifier rows the planning sent (the data's predictions, to rank confused classes)
    seconds: float = 0.0  # time the planning took (timings included)
    full_seconds: float = 0.0  # the estimate before any reduction
    upfront_seconds: float | None = (
        None  # the estimate printed before the run, when the checks were re-planned
    )
    replans: tuple[str, ...] = ()  # why the later checks were planned again during the run

    @property
    def estimated_seconds(self) -> float:
        return self.seconds + sum(c.seconds for c in self.checks)

    def check(self, name: str) -> CheckPlan | None:
        return next((c for c in self.checks if c.name == name), None)

    def replanned(self, later: AuditPlan, why: str) -> AuditPlan:
        """This plan with `later`'s checks in place of the same-named ones, the cost they were planned with,
        and why."""
        new = {c.name: c for c in later.checks}
        return replace(
            self,
            cost=later.cost,
            checks=tuple(new.get(c.name, c) for c in self.checks),
            upfront_seconds=self.upfront_seconds if self.replans else self.estimated_seconds,
            replans=(*self.replans, why),
        )

    def time_limit(self, name: str, elapsed: float) -> float | None:
        """Seconds the check may use when `elapsed` of the budget is gone: what is left minus what the later
        checks are planned to need, but at least its own estimate (+ GRACE) while time is left; None without
        a budget."""
        if self.time_budget is None:
            return None
        left = self.time_budget - elapsed
        names = [c.name for c in self.checks]
        later = names[names.index(name) + 1 :] if name in names else []
        reserve = sum(c.seconds for c in self.checks if c.name in later)
        own = self.check(name)
        estimate = own.seconds if own is not None else 0.0
        return max(0.0, max(left - reserve, min(estimate + GRACE, left)))

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "time_budget": self.time_budget,
            "estimated_seconds": self.estimated_seconds,
            "full_size_seconds": self.full_seconds,
            "planning_seconds": self.seconds,
            "upfront_seconds": self.upfront_seconds,
            "replans": list(self.replans),
            "planning_queries": self.queries,
            "cost": self.cost.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
        }
        converted: dict[str, Any] = jsonable(doc)
        return converted

    def lines(self) -> list[str]:
        """The plan as terminal lines: a head line, then one line per check."""
        budget = f"time budget {self.time_budget:g} s" if self.time_budget is not None else "no time budget"
        cost = self.cost
        head = (
            f"plan: ~{self.estimated_seconds:.1f} s, {budget}; {cost.rows_per_second:,.0f} rows/s at batch "
            f"{cost.batch_size:,} on {cost.threads} thread(s)"
        )
        if self.full_seconds > self.estimated_seconds * 1.01:
            head += f"; reduced from ~{self.full_seconds:.0f} s at full size"
        return [head] + [f"plan: {c.line()}" for c in self.checks]


Dial = tuple[str, int]  # (name of an integer or class-list setting, least value it may be cut to)


def scale(
    settings: SettingsT, dials: tuple[Dial, ...], share: float, why: str
) -> tuple[SettingsT, tuple[Reduction, ...]]:
    """`settings` doing about `share` of their work, for work proportional to the product of the dials.

    The dials are cut in order, each as far as its least value allows, until the product has shrunk by
    `share`; a class list (a tuple) keeps its first classes, which the caller ordered by priority.
    """
    left = share
    changes: dict[str, Any] = {}
    reductions = []
    for name, least in dials:
        if left >= CLOSE_ENOUGH:
            break
        value = getattr(settings, name)
        size = len(value) if isinstance(value, tuple) else value
        if not isinstance(size, int) or size <= least:
            continue
        kept = max(least, math.floor(size * left))
        if kept >= size:
            continue
        changes[name] = value[:kept] if isinstance(value, tuple) else kept
        reductions.append(Reduction(name, value, changes[name], why))
        if kept == 0:  # this part of the work is gone
            break
        left *= size / kept
    return replace(settings, **changes), tuple(reductions)  # type: ignore[type-var]


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{len(value)} class{'es' if len(value) != 1 else ''}" if value else "none"
    return f"{value:,}" if isinstance(value, int) else str(value)
