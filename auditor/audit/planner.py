"""Planning an audit before it runs: time a model call and a search step, estimate every check, scale to fit.

The classifier's cost is fitted on the calibration's timed batches (the black box calibrates here what
its first large prediction would); with batch size and threads given, there is nothing to calibrate and
two batch sizes are timed instead. Timing rows are sent straight to the session, as the calibration
does, and are not counted as queries. When the estimate passes [run] time_budget (less a margin),
the checks that can shrink are given settings for the share of their work that fits, and each
reduction is recorded with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from auditor.audit.checks import Check, Context, listed_checks
from auditor.audit.checks.inputs import classes_text
from auditor.audit.config import AuditConfig
from auditor.audit.plan import FILL, AuditPlan, CheckPlan, Cost, Reduction, Search, Work
from auditor.audit.seeds import unit_seed
from auditor.model import calibration
from auditor.model.blackbox import BlackBox, probe_rows
from auditor.model.generator import Generator
from auditor.search import Evaluation
from auditor.search.registry import canonical_method, make_search

TIMING_SECONDS = 0.3  # time spent timing the classifier when its calibration has too few batch sizes
SMALL_BATCH = 16  # the small batch size timed beside the chosen one
GENERATOR_BATCH = 256
TEXT_ROWS = 256  # texts tokenized to time a text classifier's tokenizer
STEP_GENERATIONS = 12  # generations timed per search kind ...
STEP_SECONDS = 0.15  # ... or fewer when they take longer than this
ROUNDS = 10  # rounds of reduction (budgets and counts are whole numbers; the work is not exactly a product)
#: A round that cut nothing while the plan is still over asks the most expensive check for less and less
#: (this factor each time, down to MIN_SHARE of its work) until one whole step goes (`_step_down`).
SQUEEZE = 0.8
MIN_SHARE = 0.05
LEVEL_MISS = 1.25  # a check left this far above its share after a cut is at its least settings


def plan_audit(
    config: AuditConfig,
    ctx: Context,
    checks: tuple[Check[Any, Any], ...] | None = None,
    cost: Cost | None = None,
) -> AuditPlan:
    """Estimate every check on this context and, under a time budget, reduce the checks that can shrink.

    `cost`: timings to plan with (measured here when None); with the same cost, config and seed the
    reductions are the same.
    """
    checks = checks or listed_checks(config, ctx.text is not None)
    started = time.perf_counter()
    queries = ctx.blackbox.queries
    budget = config.run.time_budget or None
    chosen = {check.name: check.settings(config) for check in checks}
    skipped = {check.name: _skipped(check, ctx, chosen[check.name]) for check in checks}
    works = {
        check.name: _work(check, ctx, chosen[check.name]) for check in checks if skipped[check.name] is None
    }
    cost = cost or measure_cost(ctx, [key for work in works.values() for key in work.steps])
    seconds = {name: cost.seconds(work) for name, work in works.items()}
    full = sum(seconds.values())
    reductions: dict[str, dict[str, Reduction]] = {check.name: {} for check in checks}
    reducible = [check for check in checks if check.reduce is not None and check.name in works]
    floored: set[str] = set()  # checks at their least settings: fixed costs from then on
    why = f"to fit the time budget of {budget or 0:g} s (about {full:,.{0 if full >= 10 else 2}f} s at full size)"

    def cut(check: Check[Any, Any], share: float) -> float:
        """Reduce the check to `share` of its work; its seconds after (unchanged when nothing was cut)."""
        assert check.reduce is not None
        settings, made = check.reduce(ctx, chosen[check.name], share, why)
        work = _work(check, ctx, settings) if made else works[check.name]
        after = cost.seconds(work)
        if after < seconds[check.name]:  # something cut that costs time
            chosen[check.name], works[check.name], seconds[check.name] = settings, work, after
            for reduction in made:
                first = reductions[check.name].get(reduction.setting, reduction)
                reductions[check.name][reduction.setting] = replace(reduction, before=first.before)
        return after

    for _ in range(ROUNDS if budget is not None else 0):
        assert budget is not None
        available = (
            budget * FILL
        )  # the margin also covers the planning itself, so the cuts depend on `cost` only
        movable = [check for check in reducible if check.name not in floored]
        flexible = sum(seconds[check.name] for check in movable)
        fixed = sum(seconds.values()) - flexible
        if fixed + flexible <= available or flexible <= 0:
            break
        level = water_level([seconds[check.name] for check in movable], max(available - fixed, 0.0))
        for check in movable:
            if seconds[check.name] > level and cut(check, level / seconds[check.name]) > level * LEVEL_MISS:
                floored.add(check.name)  # its least settings stay above the level: the others give more
        if sum(seconds[check.name] for check in movable) == flexible:  # nothing cut: counts are whole numbers
            largest = max(movable, key=lambda c: seconds[c.name])
            if not _step_down(largest, seconds[largest.name], fixed + flexible - available, cut):
                floored.add(largest.name)
    dropped = _drop_what_cannot_fit(budget, full, reducible, works, seconds, skipped) if budget else set()
    plans = []
    for check in checks:
        if check.name not in works:
            plans.append(
                CheckPlan(
                    check.name,
                    chosen[check.name],
                    skipped=skipped[check.name],
                    out_of_time=check.name in dropped,
                )
            )
            continue
        work = works[check.name]
        classes = work.classes
        plans.append(
            CheckPlan(
                check.name,
                chosen[check.name],
                units=len(check.plan(ctx, chosen[check.name], config.run.seed)),
                queries=work.queries,
                generator_queries=work.generator_rows,
                seconds=seconds[check.name],
                reductions=tuple(reductions[check.name].values()),
                classes=classes,
                class_names=tuple(ctx.class_name(k) for k in classes) if classes is not None else None,
                classes_chosen=_classes_choice(ctx, check.settings(config), reductions[check.name]),
            )
        )
    return AuditPlan(
        time_budget=budget,
        cost=cost,
        checks=tuple(plans),
        queries=ctx.blackbox.queries - queries,
        seconds=time.perf_counter() - started,
        full_seconds=full,
    )


def _step_down(
    check: Check[Any, Any], seconds: float, over: float, cut: Callable[[Check[Any, Any], float], float]
) -> bool:
    """Cut `check` (the most expensive one left, `seconds` now) by `over` seconds, or by its next whole step
    when that is more: a plan a few seconds over would otherwise leave out a later check whole. False when
    it is at its least settings already."""
    share = 1.0 - over / seconds
    while share > MIN_SHARE:
        if cut(check, share) < seconds:
            return True
        share *= SQUEEZE
    return False


def _drop_what_cannot_fit(
    budget: float,
    full: float,
    reducible: list[Check[Any, Any]],
    works: dict[str, Work],
    seconds: dict[str, float],
    skipped: dict[str, str | None],
) -> set[str]:
    """When the checks at their least settings still pass the budget, leave out the last reducible checks
    until the rest fit (the runner would stop them anyway, after spending the time of the earlier ones)."""
    over = sum(seconds.values()) - budget * FILL
    dropped: set[str] = set()
    for check in reversed(reducible):
        if over <= 0:
            break
        dropped.add(check.name)
        over -= seconds.pop(check.name)
        del works[check.name]
        skipped[check.name] = (
            f"does not fit the time budget of {budget:g} s (about {full:,.0f} s at full size; the checks before "
            "it need the time even at their least settings): raise [run] time_budget or --time-budget"
        )
    return dropped


def water_level(costs: list[float], total: float) -> float:
    """The level L with sum(min(cost, L)) = total: checks cheaper than L keep all their work, the others
    are cut to L seconds each (the most expensive checks shrink first, the cheap ones stay whole)."""
    ordered = sorted(costs)
    for index, cost in enumerate(ordered):
        level = (total - sum(ordered[:index])) / (len(ordered) - index)
        if level <= cost:
            return max(level, 0.0)
    return ordered[-1] if ordered else 0.0


def _skipped(check: Check[Any, Any], ctx: Context, settings: Any) -> str | None:
    if not check.enabled(ctx.config):
        return f"disabled in the config ([checks.{check.name}] enabled = false)"
    return check.unmet(ctx, settings)


def _work(check: Check[Any, Any], ctx: Context, settings: Any) -> Work:
    return check.estimate(ctx, settings, check.plan(ctx, settings, ctx.config.run.seed))


def _classes_choice(ctx: Context, configured: Any, cuts: dict[str, Reduction]) -> str | None:
    """How a per-class check's classes were chosen (its configured `classes` or `matrix_classes`), and
    whether the time budget then kept fewer."""
    for name in ("classes", "matrix_classes"):
        if hasattr(configured, name):
            text = classes_text(ctx, getattr(configured, name))
            return f"{text}, cut to fit the time budget" if name in cuts else text
    return None


# ---------------------------------------------------------------- timings


def measure_cost(ctx: Context, searches: Iterable[Search] = ()) -> Cost:
    """What a classifier call, a generator row and a generation of each kind of search cost here."""
    blackbox = ctx.blackbox
    rows = ctx.reference
    if blackbox.calibration is None and blackbox.calibrates:
        blackbox.calibrate(rows)  # what the first large prediction would do
    found = blackbox.calibration
    threads = found.threads if found is not None else blackbox.threads
    rates: dict[int, float] = {}
    for trial in found.trials if found is not None else ():
        if trial.threads == threads:
            rates[trial.batch] = max(rates.get(trial.batch, 0.0), trial.rows_per_second)
    source = "calibration"
    if len({batch for batch in rates if batch > 1}) < 2 and not blackbox.signature.input.batch:
        rates.update(_timed_rates(blackbox, rows))
        source = "timed"
    elif not rates:
        rates = _timed_rates(blackbox, rows)
        source = "timed"
    call, row = fit_call_cost(rates)
    batch = blackbox.batch_size
    rate = batch / (call + batch * row) if call + batch * row > 0 else float("inf")
    if blackbox.signature.input.batch:  # every call is padded to the fixed batch
        call, row = call + batch * row, 0.0
    generator = _generator_row(ctx.generator, ctx.config.run.seed) if ctx.generator is not None else 0.0
    steps = {key: _step_seconds(key, ctx.config.run.seed) for key in dict.fromkeys(searches)}
    text_row = _text_row(ctx)
    return Cost(call, row, generator, steps, rate, batch, threads, source, text_row)


def fit_call_cost(rates: dict[int, float]) -> tuple[float, float]:
    """(seconds per call, seconds per row) fitted by least squares on timed (batch, rows/s) pairs; without
    two batch sizes or with a negative intercept, all of the time is put on the rows."""
    batches = np.array(sorted(rates), dtype=np.float64)
    seconds = np.array([b / rates[int(b)] for b in batches])
    if len(batches) >= 2:
        slope, intercept = np.polyfit(batches, seconds, 1)
        if intercept >= 0 and slope > 0:
            return float(intercept), float(slope)
    return 0.0, float(np.mean(seconds / batches))


def _timed_rates(blackbox: BlackBox, rows: np.ndarray | None) -> dict[int, float]:
    """Rows/s of the session at a small batch and at the batch size in use, within TIMING_SECONDS."""
    x = blackbox.runner.cast(blackbox.prepare(rows)) if rows is not None and len(rows) else None
    x = x if x is not None else probe_rows(blackbox.signature.input)
    session, names = blackbox.session, [blackbox.fetch]

    def run(chunk: np.ndarray) -> object:
        return session.run(names, blackbox.runner.feed(chunk))

    fixed = blackbox.signature.input.batch
    sizes = (fixed,) if fixed else tuple(sorted({min(SMALL_BATCH, blackbox.batch_size), blackbox.batch_size}))
    clock = time.perf_counter
    return calibration.best_rates(calibration.ladder(run, x, sizes, clock() + TIMING_SECONDS, clock))


def _generator_row(generator: Generator, seed: int) -> float:
    """Seconds per generated row at GENERATOR_BATCH rows (best of two timings, sent straight to the session)."""
    rng = np.random.default_rng(unit_seed(seed, "plan-generator", 0))
    z = generator.sample_prior(GENERATOR_BATCH, rng).astype(np.float32)
    feed = {generator.input_name: z}
    best = np.inf
    for _ in range(2):
        started = time.perf_counter()
        generator.session.run([generator.output_name], feed)
        best = min(best, time.perf_counter() - started)
    return float(best / GENERATOR_BATCH)


def _text_row(ctx: Context) -> float:
    """Seconds to tokenize one of the data's texts (best of two timings of TEXT_ROWS, no model query);
    0 for other models and for text models that take strings."""
    text = ctx.text
    if text is None or text.model.tokenizer is None or not text.texts:
        return 0.0
    chosen = list(text.texts[:TEXT_ROWS])
    best = np.inf
    for _ in range(2):
        started = time.perf_counter()
        text.model.encode(chosen)
        best = min(best, time.perf_counter() - started)
    return float(best / len(chosen))


def _step_seconds(key: Search, seed: int) -> float:
    """Seconds of one generation (ask and tell) of a search of this method and dimension, on a toy loss."""
    method, dim = key
    rng = np.random.default_rng(unit_seed(seed, f"plan-step:{method}", dim))
    search = make_search(canonical_method(method), dim, rng)
    started = time.perf_counter()
    done = 0
    while done < STEP_GENERATIONS and time.perf_counter() - started < STEP_SECONDS:
        z = search.ask()
        search.tell(z, Evaluation((z**2).sum(axis=1), np.zeros(len(z), dtype=bool)))
        done += 1
    return (time.perf_counter() - started) / max(done, 1)
