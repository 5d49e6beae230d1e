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
from auditor.pictures import png_bytes

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


def merge(ctx: Context, settings: CounterfactualSettings, parts: list[Searches]) -> Outcome:
    from auditor.explain.counterfactuals import FlipMatrix, summarize  # optional in a build: see unmet()

    samples = [(row, result) for p in parts if p.part == "samples" for row, result in zip(p.rows, p.results)]
    matrix = [result for p in parts if p.part == "matrix" for result in p.results]
    skipped = [row for p in parts for row in p.skipped]
    summary = summarize([result for _, result in samples])
    names = ctx.data.feature_names if ctx.data is not None else None
    listed = [{"index": row, **result.entries(names)[0]} for row, result in samples]
    figures: list[Figure] = []
    if ctx.is_image:
        for row, result in samples:
            verdict = "valid" if result.valid[0] else "not valid"
            caption = (
                f"Row {row}: {ctx.class_name(result.source)} → {ctx.class_name(result.target)} ({verdict}, "
                f"p = {float(result.confidence[0]):.3f}, L2 {float(result.l2[0]):.3g}); input, counterfactual, change"
            )
            picture = ctx.display.comparison(result.x, result.counterfactuals[0])
            figures.append(Figure(f"counterfactual-{len(figures)}", caption, png_bytes(picture)))
    validity = summary.to_dict()["validity"]
    tests = criteria(("validity", validity, ">=", settings.min_validity))
    space = samples[0][1].space if samples else ("latent" if ctx.generator is not None else "input")
    details: dict[str, Any] = {
        **summary.to_dict(),
        "space": space,
        "method": settings.method,
        "target": settings.target,
        "counterfactuals": listed,
        "flip_matrix": FlipMatrix.of(matrix, ctx.blackbox.class_names).to_dict() if matrix else None,
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
