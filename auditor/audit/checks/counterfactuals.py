"""The counterfactuals check: the smallest changes that flip chosen rows, and the one-vs-one flip matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    Check,
    Figure,
    Outcome,
    Slice,
    Unit,
    build_lacks,
    chunks,
    criteria,
    nonfinite_facts,
    search_budget,
)
from auditor.audit.checks.inputs import pick_rows
from auditor.jsonable import jsonable
from auditor.pictures import grid_png

CF_ROWS_PER_UNIT = 10
CF_PAIRS_PER_UNIT = 40


def missing(ctx: Context, s: Any) -> str | None:
    lacks = build_lacks(
        "auditor.explain.counterfactuals", "the counterfactual search (auditor.explain.counterfactuals)"
    )
    if lacks is None and ctx.data is None:
        return "no inputs to explain: give data ([data] path / --data)"
    return lacks


def plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    slices = chunks(pick_rows(ctx, s.samples, seed, "counterfactual-rows"), CF_ROWS_PER_UNIT, "samples")
    k = ctx.blackbox.n_classes
    if s.matrix and k >= 2:
        rows = pick_rows(ctx, s.matrix_per_class * k, seed, "matrix-rows")
        slices += chunks(rows, max(1, CF_PAIRS_PER_UNIT // (k - 1)), "matrix")
    return slices


CfPart = tuple[str, list[int], list[Any], list[int]]  # (part, explained rows, their results, non-finite rows)


def run(ctx: Context, s: Any, unit: Unit) -> CfPart:
    from auditor.explain.counterfactuals import CounterfactualParams, counterfactuals

    assert ctx.data is not None
    x = ctx.data.x[list(unit.items)]
    # -1: the input's own scores are NaN or infinite; it cannot be explained
    labels = ctx.blackbox.predict_labels(x)
    skipped = [unit.items[i] for i in np.flatnonzero(labels < 0)]
    if unit.part == "samples":
        keep = np.flatnonzero(labels >= 0)
        if not keep.size:
            return unit.part, [], [], skipped
        results = counterfactuals(
            ctx.blackbox,
            x[keep],
            s.target,
            generator=ctx.generator,
            encoder=ctx.encoder,
            reference=ctx.reference,
            params=CounterfactualParams(method=s.method, budget=search_budget(ctx, s)),
            rng=unit.seed,
        )
        return unit.part, [unit.items[i] for i in keep], results, skipped
    pairs = [(i, b) for i, a in enumerate(labels) if a >= 0 for b in range(ctx.blackbox.n_classes) if b != a]
    if not pairs:
        return unit.part, [], [], skipped
    rows, goals = np.array([i for i, _ in pairs]), np.array([b for _, b in pairs])
    results = counterfactuals(
        ctx.blackbox,
        x[rows],
        goals,
        generator=ctx.generator,
        encoder=ctx.encoder,
        reference=ctx.reference,
        params=CounterfactualParams(method=s.method, budget=s.matrix_budget),
        rng=unit.seed,
    )
    return unit.part, [unit.items[i] for i in rows], results, skipped


def _flip_matrix(ctx: Context, results: list[Any]) -> dict[str, Any]:
    """The one-vs-one flip table of the matrix part, JSON-ready (None where no pair was attempted)."""
    from auditor.explain.counterfactuals import flip_table

    distance, success, attempts = flip_table(results, ctx.blackbox.n_classes)
    reached = distance[np.isfinite(distance)]
    return {
        "distance_l2": jsonable(distance),
        "success": jsonable(success),
        "attempts": attempts.tolist(),
        "max_distance": float(reached.max()) if reached.size else None,
    }


def merge(ctx: Context, s: Any, parts: list[CfPart]) -> Outcome:
    from auditor.explain.counterfactuals import summarize

    samples = [
        (row, r) for part, rows, results, _ in parts if part == "samples" for row, r in zip(rows, results)
    ]
    matrix = [r for part, _, results, _ in parts if part == "matrix" for r in results]
    skipped = [row for _, _, _, rows in parts for row in rows]
    summary = summarize([r for _, r in samples])
    validity = summary.validity_rate if np.isfinite(summary.validity_rate) else None
    listed, figures = [], []
    for row, r in samples:
        listed.append(
            {
                "index": row,
                "source": r.source,
                "source_name": ctx.class_name(r.source),
                "target": r.target,
                "target_name": ctx.class_name(r.target),
                "valid": bool(r.valid[0]),
                "confidence": float(r.confidence[0]),
                "l1": float(r.l1[0]),
                "l2": float(r.l2[0]),
                "l1_scaled": float(r.l1_scaled[0]),
                "changed": int(r.changed[0]),
                "realism": float(r.realism[0]),
                "reconstruction": float(r.reconstruction[0]),
                "queries": int(r.queries),
                "stop_reason": r.stop_reasons[0] if r.stop_reasons else None,
            }
        )
        if ctx.is_image:
            x, xc = r.x, r.counterfactuals[0]
            tiles = [ctx.display.tile(x), ctx.display.tile(xc), ctx.display.change_tile(x, xc)]
            verdict = "valid" if r.valid[0] else "not valid"
            caption = (
                f"Row {row}: {ctx.class_name(r.source)} → {ctx.class_name(r.target)} ({verdict}, "
                f"p = {float(r.confidence[0]):.3f}, L2 {float(r.l2[0]):.3g}); input, counterfactual, change"
            )
            figures.append(Figure(f"counterfactual-{len(figures)}", caption, grid_png(tiles, 3)))
    tests = criteria(("validity", validity, ">=", s.min_validity))
    space = samples[0][1].space if samples else ("latent" if ctx.generator is not None else "input")
    details: dict[str, Any] = {
        "space": space,
        "method": s.method,
        "target": s.target,
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
    derived = {"budget": search_budget(ctx, s), "space": space}
    return Outcome(validity, "validity", "higher", tests, details, tuple(figures), derived)


COUNTERFACTUALS = Check("counterfactuals", "Counterfactuals and flip distances", missing, plan, run, merge)
