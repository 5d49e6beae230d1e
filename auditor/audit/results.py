"""What an audit finds: threshold tests, pictures, each check's result and the whole report, JSON-ready."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.audit.plan import AuditPlan
from auditor.jsonable import jsonable

SCHEMA_VERSION = 1
#: passed / failed: judged against thresholds; reported: measured, no threshold (informational, never fails);
#: partial: a limit stopped the check, the figures cover the units it finished; not_run: nothing measured.
STATUSES = ("passed", "failed", "reported", "partial", "not_run")
#: Report keys holding timings, or the plan's estimates made from them: the only figures that differ
#: between two runs with the same seed, model and config (on one machine, or on a cluster).
TIMING_KEYS = frozenset(
    {
        "seconds",
        "ort_seconds",
        "median_seconds",
        "estimated_seconds",
        "full_size_seconds",
        "planning_seconds",
        "upfront_seconds",
        "cost",
    }
)


class Stage(enum.Enum):
    """What a check's result is: facts that identify the audit, a judged measurement, or a comparison."""

    FACTS = "facts"  # always runs, never judged; its details are the report's provenance
    MEASURE = "measure"  # measures the model; may be switched off; judged against its thresholds
    COMPARE = "compare"  # runs after the others and compares their figures with an earlier report


@dataclass(frozen=True)
class Figure:
    """A picture for the report. `name` is ours (a safe file stem); `caption` may hold untrusted text."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Criterion:
    """One threshold test: `value op threshold`, with op '>=' (higher is better) or '<=' (lower is better)."""

    name: str
    value: float | None
    op: str
    threshold: float

    @property
    def passed(self) -> bool:
        if self.value is None or not np.isfinite(self.value):
            return False
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class Outcome:
    """What a check's merge returns: its headline figure, criteria, details and pictures."""

    figure: float | None
    figure_name: str
    direction: str  # "higher" or "lower": which way the figure improves
    criteria: tuple[Criterion, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # derived settings worth recording


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: headline figure against its threshold, criteria, queries, time, details, pictures."""

    name: str
    title: str
    status: str  # one of STATUSES
    figure: float | None
    figure_name: str
    threshold: float | None
    direction: str | None  # "higher" or "lower" is better
    reason: str | None
    queries: int
    generator_queries: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    criteria: tuple[Criterion, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    error: bool = False  # not run because the check raised a user-facing error
    enabled: bool = True  # False when the config switched the check off
    limit_reached: bool = False  # not finished: the audit's query budget or the check's time limit ran out
    stage: Stage = Stage.MEASURE
    units: int = 0  # units of work planned
    units_finished: int = 0  # units whose results the figures cover (fewer than `units` when partial)
    ort_seconds: float = (
        0.0  # of `seconds`, inside ONNX Runtime (this process's classifier, generator, encoder)
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "figure": self.figure,
            "figure_name": self.figure_name,
            "threshold": self.threshold,
            "direction": self.direction,
            "reason": self.reason,
            "error": self.error,
            "enabled": self.enabled,
            "limit_reached": self.limit_reached,
            "units": self.units,
            "units_finished": self.units_finished,
            "queries": self.queries,
            "generator_queries": self.generator_queries,
            "seconds": self.seconds,
            "ort_seconds": self.ort_seconds,
            "settings": self.settings,
            "criteria": [c.to_dict() for c in self.criteria],
            "details": self.details,
            "images": [
                {"name": f.name, "caption": f.caption, "file": f"images/{f.name}.png"} for f in self.figures
            ],
        }


@dataclass(frozen=True)
class AuditReport:
    """Everything an audit found; every report format is written from this alone."""

    tool_version: str
    seed: int
    verdict: str  # pass | fail
    model_path: str
    class_names: tuple[str, ...]
    provenance: dict[str, Any]
    checks: tuple[CheckResult, ...]
    config: dict[str, Any]
    queries: int
    generator_queries: int
    seconds: float
    ort_seconds: float
    plan: AuditPlan | None = None  # the estimates and reductions the audit ran to

    def to_dict(self) -> dict[str, Any]:
        """The report.json document: stable keys (see CLI.md), JSON-safe values (NaN as null)."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "tool_version": self.tool_version,
            "verdict": self.verdict,
            "seed": self.seed,
            "model": self.model_path,
            "class_names": list(self.class_names),
            "queries": self.queries,
            "generator_queries": self.generator_queries,
            "seconds": self.seconds,
            "ort_seconds": self.ort_seconds,
            "provenance": self.provenance,
            "checks": [c.to_dict() for c in self.checks],
            "config": self.config,
            "plan": self.plan.to_dict() if self.plan is not None else None,
        }
        converted: dict[str, Any] = jsonable(doc)
        return converted

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def not_measured(self) -> list[CheckResult]:
        """Checks not run, or stopped by a limit before all their units finished."""
        return [c for c in self.checks if c.status in ("not_run", "partial")]


def judged_status(criteria: tuple[Criterion, ...]) -> str:
    """A finished check's status: failed when a criterion is missed, passed when all are met, reported without any."""
    if not criteria:
        return "reported"
    return "passed" if all(c.passed for c in criteria) else "failed"


def figure_text(value: float | None) -> str:
    """A figure in a reason line: 4 significant digits, 'n/a' when absent."""
    return "n/a" if value is None else f"{value:.4g}"


def without_timings(document: Any) -> Any:
    """A report's JSON (or a part of it) less `TIMING_KEYS`, at every depth: what reruns must reproduce."""
    if isinstance(document, dict):
        return {k: without_timings(v) for k, v in document.items() if k not in TIMING_KEYS}
    if isinstance(document, list):
        return [without_timings(v) for v in document]
    return document
