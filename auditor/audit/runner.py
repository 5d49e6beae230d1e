"""The audit loop: open one context, run each check's units, merge, compare with a baseline, decide the verdict.

The runner knows nothing of report formats. Units are executed by a `UnitMapper` (in this process
today); the checks stay pure functions of (context, settings, unit), so another mapper can ship
units to other processes or machines without touching them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from auditor import __version__
from auditor.audit import checks as C
from auditor.audit.config import AuditConfig
from auditor.errors import AuditorError, ConfigError
from auditor.jsonable import jsonable
from auditor.model.budget import Budget, BudgetExhausted

SCHEMA_VERSION = 1
STATUSES = ("passed", "failed", "not_run")


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: headline figure against its threshold, criteria, queries, time, details, pictures."""

    name: str
    title: str
    status: str  # passed | failed | not_run
    figure: float | None
    figure_name: str
    threshold: float | None
    direction: str | None  # "higher" or "lower" is better
    reason: str | None
    queries: int
    generator_queries: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    criteria: tuple[C.Criterion, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    figures: tuple[C.Figure, ...] = ()
    error: bool = False  # not run because the check raised a user-facing error
    enabled: bool = True  # False when the config switched the check off
    limit_reached: bool = False  # not finished: the audit's query budget or the check's time limit ran out

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
            "queries": self.queries,
            "generator_queries": self.generator_queries,
            "seconds": self.seconds,
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
        }
        return jsonable(doc)

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    @property
    def not_measured(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "not_run"]


# --------------------------------------------------------------------------- execution

Progress = Callable[[str, int, int], None]  # (check name, units done, units total)
UnitMapper = Callable[[C.Check, C.Context, Any, list[C.Unit]], Iterator[tuple[Any, int, int]]]


def local_mapper(
    check: C.Check, ctx: C.Context, settings: Any, units: list[C.Unit]
) -> Iterator[tuple[Any, int, int]]:
    """Run units one after another in this process; yield (part, classifier queries, generator queries)."""
    for unit in units:
        q0, g0 = ctx.blackbox.queries, _generator_queries(ctx)
        part = check.run(ctx, settings, unit)
        yield part, ctx.blackbox.queries - q0, _generator_queries(ctx) - g0


def _generator_queries(ctx: C.Context) -> int:
    return ctx.generator.queries if ctx.generator is not None else 0


def plan_units(check: C.Check, ctx: C.Context, settings: Any, seed: int) -> list[C.Unit]:
    check_seed = C.unit_seed(seed, f"{check.name}:shared", 0)
    return [
        C.Unit(
            check.name, i, part, items, check_seed if check.shared_seed else C.unit_seed(seed, check.name, i)
        )
        for i, (part, items) in enumerate(check.plan(ctx, settings, seed))
    ]


def run_check(
    check: C.Check, ctx: C.Context, progress: Progress | None = None, mapper: UnitMapper = local_mapper
) -> CheckResult:
    """Plan, map and merge one check; a prerequisite missing or a user-facing error makes it 'not_run', and so
    does a spent query budget or time limit (reason 'not finished: ...'; not an input error)."""
    started = time.perf_counter()
    settings = check.settings(ctx.config)
    base = {"name": check.name, "title": check.title, "settings": C.settings_dict(settings)}
    if settings is not None and not settings.enabled:
        return replace(
            _not_run(base, f"disabled in the config ([checks.{check.name}] enabled = false)", started),
            enabled=False,
        )
    queries = generator_queries = 0
    q_start, g_start = ctx.blackbox.queries, _generator_queries(ctx)
    try:
        reason = check.missing(ctx, settings)
        if reason:
            return _not_run(base, reason, started)
        units = plan_units(check, ctx, settings, ctx.config.run.seed)
        if progress:
            progress(check.name, 0, len(units))
        parts = []
        for done, (part, q, g) in enumerate(mapper(check, ctx, settings, units), start=1):
            parts.append(part)
            queries += q
            generator_queries += g
            if progress:
                progress(check.name, done, len(units))
        q0 = ctx.blackbox.queries
        outcome = check.merge(ctx, settings, parts)
        queries += ctx.blackbox.queries - q0
    except ConfigError:
        raise
    except (
        AuditorError
    ) as exc:  # BudgetExhausted included: a unit may have queried the model before it stopped
        spent = max(queries, ctx.blackbox.queries - q_start)
        spent_g = max(generator_queries, _generator_queries(ctx) - g_start)
        if isinstance(exc, BudgetExhausted):
            result = _not_run(base, str(exc), started, queries=spent, generator_queries=spent_g)
            return replace(result, limit_reached=True)
        return _not_run(base, f"could not run: {exc}", started, True, spent, spent_g)
    failed = [c for c in outcome.criteria if not c.passed]
    head = outcome.criteria[0] if outcome.criteria else None
    reason = None
    if failed:
        reason = "; ".join(f"{c.name} {_fmt(c.value)} is not {c.op} {_fmt(c.threshold)}" for c in failed)
    elif not outcome.criteria and check.name != "provenance":
        reason = "no threshold set; the figures are reported only"
    return CheckResult(
        status="failed" if failed else "passed",
        figure=outcome.figure,
        figure_name=outcome.figure_name,
        threshold=head.threshold if head and head.name == outcome.figure_name else None,
        direction=outcome.direction,
        reason=reason,
        queries=queries,
        generator_queries=generator_queries,
        seconds=time.perf_counter() - started,
        settings={**base["settings"], **outcome.settings},
        criteria=outcome.criteria,
        details=outcome.details,
        figures=outcome.figures,
        name=check.name,
        title=check.title,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _not_run(
    base: dict[str, Any],
    reason: str,
    started: float,
    error: bool = False,
    queries: int = 0,
    generator_queries: int = 0,
) -> CheckResult:
    return CheckResult(
        name=base["name"],
        title=base["title"],
        status="not_run",
        figure=None,
        figure_name="",
        threshold=None,
        direction=None,
        reason=reason,
        queries=queries,
        generator_queries=generator_queries,
        seconds=time.perf_counter() - started,
        settings=base["settings"],
        error=error,
    )


def run_audit(
    config: AuditConfig,
    context: C.Context,
    progress: Progress | None = None,
    mapper: UnitMapper = local_mapper,
    checks: tuple[C.Check, ...] | None = None,
) -> AuditReport:
    """Run every check on one context (one black-box session), then the baseline comparison if asked.

    The classifier's runner carries the audit's query budget ([run] max_queries) and, with the
    generator's and encoder's, each check's deadline; a check that runs out is 'not finished' and the
    next one starts.
    """
    started = time.perf_counter()
    clocks = {context.blackbox.runner: Budget(queries=config.run.max_queries)}
    for model in (context.generator, context.encoder):
        if model is not None:
            clocks[model.runner] = Budget()
    before = {runner: runner.budget for runner in clocks}
    results = []
    try:
        for runner, limit in clocks.items():
            runner.budget = limit
        for check in checks or C.CHECKS:
            seconds = C.time_limit(config, check.settings(config))
            for limit in clocks.values():
                limit.start_check(seconds)
            results.append(run_check(check, context, progress, mapper))
    finally:
        for runner, previous in before.items():
            runner.budget = previous
    if config.baseline.path is not None:
        results.append(
            compare_baseline(results, load_baseline(config.baseline.path), config.baseline.max_regression)
        )
    provenance = next((r.details for r in results if r.name == "provenance"), {})
    bb = context.blackbox
    return AuditReport(
        tool_version=__version__,
        seed=config.run.seed,
        verdict="fail" if any(r.status == "failed" for r in results) else "pass",
        model_path=str(config.model.path),
        class_names=bb.class_names,
        provenance=provenance,
        checks=tuple(results),
        config=config.to_dict(),
        queries=sum(r.queries for r in results),
        generator_queries=sum(r.generator_queries for r in results),
        seconds=time.perf_counter() - started,
        ort_seconds=bb.ort_seconds + (context.generator.ort_seconds if context.generator else 0.0),
    )


def problem(report: AuditReport) -> str | None:
    """Why the audit counts as bad input (exit 2): a check raised an input error, or no requested check could run."""
    broken = [c for c in report.checks if c.error]
    if broken:
        return f"{broken[0].name}: {broken[0].reason}; fix the input or set enabled = false for this check"
    wanted = [
        c
        for c in report.checks
        if c.name not in ("provenance", "baseline") and c.enabled and not c.limit_reached
    ]
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


# --------------------------------------------------------------------------- baseline


def load_baseline(path: Path) -> dict[str, Any]:
    """An earlier report.json; raise ConfigError when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such baseline report; pass an earlier audit's report.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable report.json ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list) or "schema_version" not in doc:
        raise ConfigError(f"{path}: not an auditor report.json (no schema_version or checks)")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: report schema {doc['schema_version']} differs from this tool's {SCHEMA_VERSION}"
        )
    return doc


def _finite(value: Any) -> float | None:
    """A number read from a baseline report, or None when it is absent, not a number, or NaN/infinite."""
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def compare_baseline(
    results: list[CheckResult], baseline: dict[str, Any], max_regression: float
) -> CheckResult:
    """Per check, the change of the headline figure since the baseline; fails when one worsened by more than allowed."""
    started = time.perf_counter()
    old = {c["name"]: c for c in baseline["checks"] if isinstance(c, dict) and isinstance(c.get("name"), str)}
    rows = []
    for r in results:
        before = old.get(r.name, {})
        b_fig, b_status = _finite(before.get("figure")), before.get("status")
        change = regression = None
        if b_fig is not None and r.figure is not None and r.direction:
            change = r.figure - b_fig
            regression = -change if r.direction == "higher" else change
        rows.append(
            {
                "check": r.name,
                "before": b_fig,
                "after": r.figure,
                "status_before": b_status,
                "status_after": r.status,
                "change": change,
                "regression": regression,
            }
        )
    regressions = [row["regression"] for row in rows if row["regression"] is not None]
    worst = max(regressions) if regressions else None
    b_sha = (
        baseline.get("provenance", {}).get("sha256") if isinstance(baseline.get("provenance"), dict) else None
    )
    details = {
        "baseline_model_sha256": b_sha,
        "same_model": b_sha
        == next((r.details.get("sha256") for r in results if r.name == "provenance"), None),
        "baseline_tool_version": baseline.get("tool_version"),
        "changes": rows,
    }
    criteria = (C.Criterion("worst regression", worst, "<=", max_regression),) if worst is not None else ()
    failed = criteria and not criteria[0].passed
    return CheckResult(
        name="baseline",
        title="Changes since the baseline",
        status="failed" if failed else "passed",
        figure=worst,
        figure_name="worst regression",
        threshold=max_regression,
        direction="lower",
        reason=(
            f"worst regression {_fmt(worst)} is over {_fmt(max_regression)}"
            if failed
            else None
            if worst is not None
            else "no figure comparable with the baseline"
        ),
        queries=0,
        generator_queries=0,
        seconds=time.perf_counter() - started,
        settings={"max_regression": max_regression},
        criteria=criteria,
        details=details,
    )
