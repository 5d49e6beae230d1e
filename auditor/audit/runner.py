"""The audit loop: run each check's units on one context, merge them, then compare with a baseline if asked.

The runner knows nothing of report formats. Units are executed by a `UnitMapper` (in this process
today); the checks stay pure functions of (context, settings, unit), so another mapper can ship
units to other processes or machines without touching them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from auditor import __version__
from auditor.audit.baseline import compare_baseline, load_baseline
from auditor.audit.checks import CHECKS, Check, Context, Unit, settings_dict, time_limit
from auditor.audit.checks.core import PartT, SettingsT
from auditor.audit.config import AuditConfig
from auditor.audit.results import AuditReport, CheckResult, Stage, figure_text
from auditor.audit.seeds import unit_seed
from auditor.errors import ArgumentError, AuditorError, ConfigError
from auditor.model.budget import Budget, BudgetExhausted

Progress = Callable[[str, int, int], None]  # (check name, units done, units total)
# (check, context, settings, units) -> (part, classifier queries, generator queries) per unit
UnitMapper = Callable[[Check[Any, Any], Context, Any, list[Unit]], Iterator[tuple[Any, int, int]]]


def local_mapper(
    check: Check[SettingsT, PartT], ctx: Context, settings: SettingsT, units: list[Unit]
) -> Iterator[tuple[PartT, int, int]]:
    """Run units one after another in this process; yield (part, classifier queries, generator queries)."""
    for unit in units:
        queries, generator_queries = ctx.blackbox.queries, _generator_queries(ctx)
        part = check.run(ctx, settings, unit)
        yield part, ctx.blackbox.queries - queries, _generator_queries(ctx) - generator_queries


def _generator_queries(ctx: Context) -> int:
    return ctx.generator.queries if ctx.generator is not None else 0


def plan_units(check: Check[SettingsT, Any], ctx: Context, settings: SettingsT, seed: int) -> list[Unit]:
    shared = unit_seed(seed, f"{check.name}:shared", 0)
    return [
        Unit(check.name, i, part, items, shared if check.shared_seed else unit_seed(seed, check.name, i))
        for i, (part, items) in enumerate(check.plan(ctx, settings, seed))
    ]


def run_check(
    check: Check[SettingsT, Any],
    ctx: Context,
    progress: Progress | None = None,
    mapper: UnitMapper = local_mapper,
) -> CheckResult:
    """Plan, map and merge one check; a prerequisite missing or a user-facing error makes it 'not_run', and so
    does a spent query budget or time limit (reason 'not finished: ...'; not an input error)."""
    started = time.perf_counter()
    settings = check.settings(ctx.config)
    head = CheckResult(
        name=check.name,
        title=check.title,
        status="not_run",
        figure=None,
        figure_name="",
        threshold=None,
        direction=None,
        reason=None,
        queries=0,
        generator_queries=0,
        seconds=0.0,
        settings=settings_dict(settings),
        stage=check.stage,
    )
    if not check.enabled(ctx.config):
        disabled = f"disabled in the config ([checks.{check.name}] enabled = false)"
        return replace(head, reason=disabled, enabled=False, seconds=time.perf_counter() - started)
    queries = generator_queries = 0
    queries_before, generator_before = ctx.blackbox.queries, _generator_queries(ctx)
    try:
        unmet = check.unmet(ctx, settings)
        if unmet:
            return replace(head, reason=unmet, seconds=time.perf_counter() - started)
        units = plan_units(check, ctx, settings, ctx.config.run.seed)
        if progress:
            progress(check.name, 0, len(units))
        parts = []
        for done, (part, unit_queries, unit_generator_queries) in enumerate(
            mapper(check, ctx, settings, units), start=1
        ):
            parts.append(part)
            queries += unit_queries
            generator_queries += unit_generator_queries
            if progress:
                progress(check.name, done, len(units))
        merge_start = ctx.blackbox.queries
        outcome = check.merge(ctx, settings, parts)
        queries += ctx.blackbox.queries - merge_start
    except (ConfigError, ArgumentError):
        raise  # a setting the config reader or the library refuses is bad input (exit 2), not a check's fault
    except AuditorError as exc:
        # BudgetExhausted included: a unit may have queried the model before it stopped
        spent = replace(
            head,
            queries=max(queries, ctx.blackbox.queries - queries_before),
            generator_queries=max(generator_queries, _generator_queries(ctx) - generator_before),
            seconds=time.perf_counter() - started,
        )
        if isinstance(exc, BudgetExhausted):
            return replace(spent, reason=str(exc), limit_reached=True)
        return replace(spent, reason=f"could not run: {exc}", error=True)
    failed = [c for c in outcome.criteria if not c.passed]
    first = outcome.criteria[0] if outcome.criteria else None
    reason: str | None = None
    if failed:
        reason = "; ".join(
            f"{c.name} {figure_text(c.value)} is not {c.op} {figure_text(c.threshold)}" for c in failed
        )
    elif not outcome.criteria and check.stage is Stage.MEASURE:
        reason = "no threshold set; the figures are reported only"
    return replace(
        head,
        status="failed" if failed else "passed",
        figure=outcome.figure,
        figure_name=outcome.figure_name,
        threshold=first.threshold if first and first.name == outcome.figure_name else None,
        direction=outcome.direction,
        reason=reason,
        queries=queries,
        generator_queries=generator_queries,
        seconds=time.perf_counter() - started,
        settings={**head.settings, **outcome.settings},
        criteria=outcome.criteria,
        details=outcome.details,
        figures=outcome.figures,
    )


def run_audit(
    config: AuditConfig,
    context: Context,
    progress: Progress | None = None,
    mapper: UnitMapper = local_mapper,
    checks: tuple[Check[Any, Any], ...] | None = None,
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
        for check in checks or [check for check in CHECKS if check.listed(config)]:
            seconds = time_limit(config, check.settings(config))
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
    blackbox = context.blackbox
    return AuditReport(
        tool_version=__version__,
        seed=config.run.seed,
        verdict="fail" if any(r.status == "failed" for r in results) else "pass",
        model_path=str(config.model.path),
        class_names=blackbox.class_names,
        provenance=next((r.details for r in results if r.stage is Stage.FACTS), {}),
        checks=tuple(results),
        config=config.to_dict(),
        queries=sum(r.queries for r in results),
        generator_queries=sum(r.generator_queries for r in results),
        seconds=time.perf_counter() - started,
        ort_seconds=blackbox.ort_seconds + (context.generator.ort_seconds if context.generator else 0.0),
    )
