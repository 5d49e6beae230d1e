"""The audit loop: run each check's units on one context, merge them, then compare with a baseline if asked.

The runner knows nothing of report formats. Units are executed by a `UnitMapper`
(`executors.local`: in this process; `executors.ray`: on Ray actors); the checks stay pure functions
of (context, settings, unit), so a mapper ships units to other processes or machines without touching them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from auditor import __version__
from auditor.audit.baseline import compare_baseline, load_baseline
from auditor.audit.checks import Check, Context, Unit, listed_checks, settings_dict, time_limit
from auditor.audit.checks.core import SettingsT
from auditor.audit.config import AuditConfig, resolve_classes
from auditor.audit.executors.local import UnitMapper, forget_cached_rows, local_mapper
from auditor.audit.plan import FILL, AuditPlan
from auditor.audit.planner import plan_audit
from auditor.audit.results import AuditReport, CheckResult, Stage, figure_text, judged_status
from auditor.audit.seeds import unit_seed
from auditor.errors import ArgumentError, AuditorError, ConfigError, NotFinished
from auditor.model.budget import Budget

#: Re-plan the later checks when the checks so far ran this many times slower than planned ...
REPLAN_PACE = 1.25
#: ... once they have taken at least this long (the pace of a few short checks is noise).
REPLAN_AFTER_SECONDS = 2.0
Progress = Callable[[str, int, int], None]  # (check name, units done, units total)


def _generator_queries(ctx: Context) -> int:
    return ctx.generator.queries if ctx.generator is not None else 0


def plan_units(check: Check[SettingsT, Any], ctx: Context, settings: SettingsT, seed: int) -> list[Unit]:
    shared = unit_seed(seed, f"{check.name}:shared", 0)
    return [
        Unit(check.name, i, part, items, shared if check.shared_seed else unit_seed(seed, check.name, i))
        for i, (part, items) in enumerate(check.plan(ctx, settings, seed))
    ]


def ort_seconds(ctx: Context) -> float:
    """Seconds this process's sessions (classifier, generator, encoder) have spent inside ONNX Runtime."""
    sessions = (ctx.generator, ctx.encoder)
    return ctx.blackbox.ort_seconds + sum(s.ort_seconds for s in sessions if s is not None)


def run_check(
    check: Check[SettingsT, Any],
    ctx: Context,
    progress: Progress | None = None,
    mapper: UnitMapper = local_mapper,
    settings: SettingsT | None = None,
    deadline_reason: str | None = None,
) -> CheckResult:
    """Plan, map and merge one check (with `settings`, else its configured ones).

    A prerequisite missing or a user-facing error makes it 'not_run'. A spent query budget or time limit, or a
    unit that could not finish (its worker died twice), keeps the units finished before it: their merge is the check's figures, with status 'partial' (or
    'not_run' when no unit finished); `deadline_reason` replaces the limit's own message when a deadline
    stopped it. A finished check is 'passed' or 'failed' against its criteria, 'reported' without any.
    """
    started = time.perf_counter()
    settings = check.settings(ctx.config) if settings is None else settings
    head = _not_run(check, settings)
    if not check.enabled(ctx.config):
        disabled = f"disabled in the config ([checks.{check.name}] enabled = false)"
        return replace(head, reason=disabled, enabled=False, seconds=time.perf_counter() - started)
    queries = generator_queries = 0
    queries_before, generator_before = ctx.blackbox.queries, _generator_queries(ctx)
    units: list[Unit] = []
    parts: list[Any] = []
    stopped: str | None = None  # why a limit stopped the check before its last unit
    try:
        unmet = check.unmet(ctx, settings)
        if unmet:
            return replace(head, reason=unmet, seconds=time.perf_counter() - started)
        units = plan_units(check, ctx, settings, ctx.config.run.seed)
        if check.stage is Stage.MEASURE:
            ctx.settle()  # here, not in a unit: whatever runs the units, the first check to run counts it
        queries = ctx.blackbox.queries - queries_before  # the plan's queries and the shared facts'
        generator_queries = _generator_queries(ctx) - generator_before
        if progress:
            progress(check.name, 0, len(units))
        try:
            for done, (part, unit_queries, unit_generator_queries) in enumerate(
                mapper(check, ctx, settings, units), start=1
            ):
                parts.append(part)
                queries += unit_queries
                generator_queries += unit_generator_queries
                if progress:
                    progress(check.name, done, len(units))
        except NotFinished as exc:
            stopped = deadline_reason if deadline_reason and _past_deadline(ctx) else str(exc)
            if not parts:
                raise type(exc)(stopped) from None
        forget_cached_rows(ctx)  # the merge counts alike whichever executor ran the units
        merge_start = ctx.blackbox.queries
        outcome = check.merge(ctx, settings, parts)
        queries += ctx.blackbox.queries - merge_start
    except (ConfigError, ArgumentError):
        raise  # a setting the config reader or the library refuses is bad input (exit 2), not a check's fault
    except AuditorError as exc:
        # NotFinished included (a spent budget, a unit whose worker died twice): units may have queried first
        spent = replace(
            head,
            queries=max(queries, ctx.blackbox.queries - queries_before),
            generator_queries=max(generator_queries, _generator_queries(ctx) - generator_before),
            seconds=time.perf_counter() - started,
            units=len(units),
        )
        if isinstance(exc, NotFinished):
            return replace(spent, reason=str(exc), limit_reached=True)
        return replace(spent, reason=f"could not run: {exc}", error=True)
    failed = [c for c in outcome.criteria if not c.passed]
    misses = "; ".join(
        f"{c.name} {figure_text(c.value)} is not {c.op} {figure_text(c.threshold)}" for c in failed
    )
    first = outcome.criteria[0] if outcome.criteria else None
    reason: str | None = misses or None
    status = judged_status(outcome.criteria)
    if stopped is not None:
        status = "partial"
        reason = f"{stopped}; {len(parts)} of {len(units)} units finished and the figures cover those only"
        reason += f"; on them, {misses}" if misses else ""
    elif status == "reported" and check.stage is Stage.MEASURE:
        reason = "no threshold set; the figures are reported only"
    return replace(
        head,
        status=status,
        figure=outcome.figure,
        figure_name=outcome.figure_name,
        threshold=first.threshold if first and first.name == outcome.figure_name else None,
        direction=outcome.direction,
        reason=reason,
        queries=max(queries, ctx.blackbox.queries - queries_before) if stopped else queries,
        generator_queries=generator_queries,
        seconds=time.perf_counter() - started,
        settings={**head.settings, **outcome.settings},
        criteria=outcome.criteria,
        details=outcome.details,
        figures=outcome.figures,
        limit_reached=stopped is not None,
        units=len(units),
        units_finished=len(parts),
    )


def _past_deadline(ctx: Context) -> bool:
    """Whether the classifier's current deadline has passed (a time limit, not the query budget, stopped it)."""
    budget = ctx.blackbox.runner.budget
    return budget is not None and budget.deadline is not None and time.monotonic() > budget.deadline


def run_audit(
    config: AuditConfig,
    context: Context,
    progress: Progress | None = None,
    mapper: UnitMapper = local_mapper,
    checks: tuple[Check[Any, Any], ...] | None = None,
    plan: AuditPlan | None = None,
) -> AuditReport:
    """Run every check on one context (one black-box session), then the baseline comparison if asked.

    The plan (made here when not given: `plan_audit`) sets each check's settings and, under [run]
    time_budget, its share of the time. The classifier's runner carries the audit's query budget
    ([run] max_queries) and, with the generator's and encoder's, each check's deadline: the sooner of
    its own timeout and the plan's share; a check that runs out keeps the units it finished and the
    next one starts.
    """
    config = resolve_classes(config, context.blackbox.class_names)  # as `Context.open` did: classes by name
    checks = checks or listed_checks(config, context.text is not None)
    plan = plan or plan_audit(config, context, checks)
    started = time.perf_counter()
    clocks = {context.blackbox.runner: Budget(queries=config.run.max_queries)}
    for model in (context.generator, context.encoder):
        if model is not None:
            clocks[model.runner] = Budget()
    before = {runner: runner.budget for runner in clocks}
    results: list[CheckResult] = []
    paced_from = 0  # the results run under the current plan's estimates (since the last re-plan)
    try:
        for runner, limit in clocks.items():
            runner.budget = limit
        for index, check in enumerate(checks):
            elapsed = plan.seconds + time.perf_counter() - started
            paced = _paced(plan, config, context, checks[index:], results[paced_from:], elapsed)
            if paced is not plan:
                plan, paced_from = paced, len(results)
            planned = plan.check(check.name)
            settings = planned.settings if planned is not None else check.settings(config)
            if planned is not None and planned.out_of_time and planned.skipped is not None:
                results.append(_out_of_time(check, settings, f"not run: {planned.skipped}"))
                continue
            seconds = time_limit(config, settings)
            share = plan.time_limit(check.name, plan.seconds + time.perf_counter() - started)
            note = None
            if share is not None and check.stage is not Stage.FACTS and (seconds is None or share < seconds):
                seconds = share
                note = (
                    f"not finished: the audit's time budget of {plan.time_budget:g} s left this check "
                    f"{share:,.{1 if share < 10 else 0}f} s (raise [run] time_budget or --time-budget)"
                )
            if note is not None and share is not None and share <= 0 and check.enabled(config):
                spent = (
                    f"not run: the audit's time budget of {plan.time_budget:g} s is spent before this check"
                )
                results.append(
                    _out_of_time(check, settings, f"{spent} (raise [run] time_budget or --time-budget)")
                )
                continue
            for limit in clocks.values():
                limit.start_check(seconds)
            ort_before = ort_seconds(
                context
            )  # this process's sessions: units run on Ray workers are not in it
            result = run_check(check, context, progress, mapper, settings, note)
            results.append(replace(result, ort_seconds=ort_seconds(context) - ort_before))
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
        seconds=plan.seconds + time.perf_counter() - started,
        ort_seconds=ort_seconds(context),
        plan=plan,
    )


def _paced(
    plan: AuditPlan,
    config: AuditConfig,
    context: Context,
    later: tuple[Check[Any, Any], ...],
    results: list[CheckResult],
    elapsed: float,
) -> AuditPlan:
    """The plan, or the later checks planned again for the time left when they would no longer fit at the pace
    of the moment: the checks run under this plan (`results`, those since the last re-plan) ran REPLAN_PACE
    times slower than it planned, or the calibration's re-check fell back to fewer threads since it was made
    (`_fallback_pace`). Again after a re-plan: the machine may slow down more than once."""
    if plan.time_budget is None:
        return plan
    done = [(result, plan.check(result.name)) for result in results if result.stage is Stage.MEASURE]
    planned = sum(entry.seconds for _, entry in done if entry is not None)
    actual = sum(result.seconds for result, entry in done if entry is not None)
    measured = actual / max(planned, 1e-9)
    if actual < REPLAN_AFTER_SECONDS or measured <= REPLAN_PACE:
        measured = 1.0
    fell_back = _fallback_pace(plan, context)
    pace = max(measured, fell_back)
    if pace == 1.0:
        return plan
    left = plan.time_budget - elapsed
    seconds = {c.name: entry.seconds for c in later if (entry := plan.check(c.name)) is not None}
    waiting = tuple(c for c in later if c.stage is Stage.MEASURE and seconds.get(c.name, 0.0) > 0)
    if left <= 0 or sum(seconds[c.name] for c in waiting) * pace <= left * FILL:
        return plan
    threads = context.blackbox.threads
    again = plan_audit(
        replace(config, run=replace(config.run, time_budget=left)),
        context,
        waiting,
        cost=replace(plan.cost.scaled(pace), threads=threads),
    )
    causes = [f"the checks ran {measured:.1f}x slower than planned"] if measured > 1.0 else []
    if fell_back > 1.0:
        causes.append(
            f"ONNX Runtime fell back from {plan.cost.threads} to {threads} thread(s), "
            f"{fell_back:.1f}x slower than planned"
        )
    after = results[-1].name if results else "planning"
    return plan.replanned(
        again,
        f"after {after}: {' and '.join(causes)}, so the later checks were planned again for the {left:.3g} s left",
    )


def _fallback_pace(plan: AuditPlan, context: Context) -> float:
    """How many times slower than planned the classifier runs since the calibration's re-check fell back to
    fewer threads than the plan's (its one-thread timing against the plan's rate); 1 when it did not."""
    blackbox = context.blackbox
    found = blackbox.calibration
    if found is None or found.fallback is None or blackbox.threads >= plan.cost.threads:
        return 1.0
    return max(1.0, plan.cost.rows_per_second / found.fallback.rows_per_second)


def _not_run(check: Check[Any, Any], settings: Any, reason: str | None = None) -> CheckResult:
    """A check's result before (or without) any of its units: nothing measured."""
    return CheckResult(
        name=check.name,
        title=check.title,
        status="not_run",
        figure=None,
        figure_name="",
        threshold=None,
        direction=None,
        reason=reason,
        queries=0,
        generator_queries=0,
        seconds=0.0,
        settings=settings_dict(settings),
        stage=check.stage,
    )


def _out_of_time(check: Check[Any, Any], settings: Any, reason: str) -> CheckResult:
    """A check the time budget left no time for."""
    return replace(_not_run(check, settings, reason), limit_reached=True)
