"""The counterfactuals check: the smallest changes that flip chosen rows, and the one-vs-one flip matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    Check,
    Slice,
    Unit,
    build_lacks,
    chunks,
    criteria,
    nonfinite_facts,
    search_budget,
)
from auditor.audit.checks.inputs import pick_rows
from auditor.audit.config import CfTarget, CounterfactualSettings
from auditor.audit.results import Figure, Outcome
from auditor.jsonable import jsonable
from auditor.pictures import grid_png

if TYPE_CHECKING:
    from auditor.explain.counterfactuals import CounterfactualResult

CF_ROWS_PER_UNIT = 10
CF_PAIRS_PER_UNIT = 40


@dataclass(frozen=True)
class Searches:
    """One unit's counterfactual searches: the explained rows, their results, and rows with non-finite scores."""

    part: str  # "samples" or "matrix"
    rows: list[int]
    results: list[CounterfactualResult]
    skipped: list[int]


def unmet(ctx: Context, settings: CounterfactualSettings) -> str | None:
    lacks = build_lacks(
        "auditor.explain.counterfactuals", "the counterfactual search (auditor.explain.counterfactuals)"
    )
    if lacks is None and ctx.data is None:
        return "no inputs to explain: give data ([data] path / --data)"
    return lacks


def plan(ctx: Context, settings: CounterfactualSettings, seed: int) -> list[Slice]:
    rows = pick_rows(ctx, settings.samples, seed, "counterfactual-rows")
    slices = chunks(rows, CF_ROWS_PER_UNIT, "samples")
    k = ctx.blackbox.n_classes
    if settings.matrix and k >= 2:
        rows = pick_rows(ctx, settings.matrix_per_class * k, seed, "matrix-rows")
        slices += chunks(rows, max(1, CF_PAIRS_PER_UNIT // (k - 1)), "matrix")
    return slices


def run(ctx: Context, settings: CounterfactualSettings, unit: Unit) -> Searches:
    from auditor.explain.counterfactuals import (  # optional in a build: see unmet()
        CounterfactualParams,
        counterfactuals,
    )

    assert ctx.data is not None  # unmet() said so
    x = ctx.data.x[list(unit.items)]
    # -1: the input's own scores are NaN or infinite; it cannot be explained
    labels = ctx.blackbox.predict_labels(x)
    skipped = [unit.items[i] for i in np.flatnonzero(labels < 0)]
    if unit.part == "samples":
        rows = np.flatnonzero(labels >= 0)
        target: CfTarget | int | np.ndarray = settings.target
        budget = search_budget(ctx, settings.budget)
    else:
        pairs = [
            (i, b) for i, a in enumerate(labels) if a >= 0 for b in range(ctx.blackbox.n_classes) if b != a
        ]
        rows = np.array([i for i, _ in pairs], dtype=np.int64)
        target = np.array([b for _, b in pairs], dtype=np.int64)
        budget = settings.matrix_budget
    if not rows.size:
        return Searches(unit.part, [], [], skipped)
    results = counterfactuals(
        ctx.blackbox,
        x[rows],
        target,
        generator=ctx.generator,
        encoder=ctx.encoder,
        reference=ctx.reference,
        params=CounterfactualParams(method=settings.method, budget=budget),
        rng=unit.seed,
    )
    return Searches(unit.part, [unit.items[i] for i in rows], results, skipped)


def _flip_matrix(ctx: Context, results: list[CounterfactualResult]) -> dict[str, Any]:
    """The one-vs-one flip table of the matrix part, JSON-ready (None where no pair was attempted)."""
    from auditor.explain.counterfactuals import flip_table  # optional in a build: see unmet()

    distance, success, attempts = flip_table(results, ctx.blackbox.n_classes)
    reached = distance[np.isfinite(distance)]
    return {
        "distance_l2": jsonable(distance),
        "success": jsonable(success),
        "attempts": attempts.tolist(),
        "max_distance": float(reached.max()) if reached.size else None,
    }


def merge(ctx: Context, settings: CounterfactualSettings, parts: list[Searches]) -> Outcome:
    from auditor.explain.counterfactuals import summarize  # optional in a build: see unmet()

    samples = [(row, result) for p in parts if p.part == "samples" for row, result in zip(p.rows, p.results)]
    matrix = [result for p in parts if p.part == "matrix" for result in p.results]
    skipped = [row for p in parts for row in p.skipped]
    summary = summarize([result for _, result in samples])
    validity = summary.validity_rate if np.isfinite(summary.validity_rate) else None
    listed: list[dict[str, Any]] = []
    figures: list[Figure] = []
    for row, result in samples:
        listed.append(
            {
                "index": row,
                "source": result.source,
                "source_name": ctx.class_name(result.source),
                "target": result.target,
                "target_name": ctx.class_name(result.target),
                "valid": bool(result.valid[0]),
                "confidence": float(result.confidence[0]),
                "l1": float(result.l1[0]),
                "l2": float(result.l2[0]),
                "l1_scaled": float(result.l1_scaled[0]),
                "changed": int(result.changed[0]),
                "realism": float(result.realism[0]),
                "reconstruction": float(result.reconstruction[0]),
                "queries": int(result.queries),
                "stop_reason": result.stop_reasons[0] if result.stop_reasons else None,
            }
        )
        if ctx.is_image:
            x, counterfactual = result.x, result.counterfactuals[0]
            tiles = [
                ctx.display.tile(x),
                ctx.display.tile(counterfactual),
                ctx.display.change_tile(x, counterfactual),
            ]
            verdict = "valid" if result.valid[0] else "not valid"
            caption = (
                f"Row {row}: {ctx.class_name(result.source)} → {ctx.class_name(result.target)} ({verdict}, "
                f"p = {float(result.confidence[0]):.3f}, L2 {float(result.l2[0]):.3g}); input, counterfactual, change"
            )
            figures.append(Figure(f"counterfactual-{len(figures)}", caption, grid_png(tiles, 3)))
    tests = criteria(("validity", validity, ">=", settings.min_validity))
    space = samples[0][1].space if samples else ("latent" if ctx.generator is not None else "input")
    details: dict[str, Any] = {
        "space": space,
        "method": settings.method,
        "target": settings.target,
        "inputs": summary.inputs,
        "validity": validity,
        "median_l1": summary.median_l1,
        "median_l2": summary.median_l2,
        "median_l1_scaled": summary.median_l1_scaled,
        "median_changed": summary.median_changed,
        "median_realism": summary.median_realism,
        "median_queries": summary.median_queries,
        "counterfactuals": listed,
        "flip_matrix": _flip_matrix(ctx, matrix) if matrix else None,
        **nonfinite_facts(skipped, "these inputs were not explained and are left out of the figures"),
    }
    derived = {"budget": search_budget(ctx, settings.budget), "space": space}
    return Outcome(validity, "validity", "higher", tests, details, tuple(figures), derived)


COUNTERFACTUALS = Check(
    "counterfactuals",
    "Counterfactuals and flip distances",
    settings=lambda config: config.checks.counterfactuals,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
)
