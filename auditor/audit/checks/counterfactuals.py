"""The counterfactuals check: the smallest changes that flip chosen rows, and the one-vs-one flip matrix."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    NOMINAL_POPULATION,
    Check,
    Reduced,
    Slice,
    Unit,
    add_work,
    build_lacks,
    chunks,
    criteria,
    nonfinite_facts,
    per_unit,
    search_budget,
    search_work,
)
from auditor.audit.checks.inputs import covered_classes, pick_rows
from auditor.audit.config import CfTarget, CounterfactualSettings, resolved_target
from auditor.audit.plan import Work, scale
from auditor.audit.results import Figure, Outcome
from auditor.explain.attribution.core import Features
from auditor.pictures import png_bytes

if TYPE_CHECKING:
    from auditor.explain.counterfactuals import CounterfactualResult

CF_ROWS_PER_UNIT = 10
CF_PAIRS_PER_UNIT = 40
# what a time budget may cut, in order, and how far: the explained rows' searches, then the flip matrix
# (a matrix cut under 2 classes is no matrix: on a slow model the explained rows come first)
LEAST_SAMPLES = (("budget", 300), ("samples", 1))
LEAST_MATRIX = (("matrix_per_class", 1), ("matrix_budget", 100), ("matrix_classes", 0))
IMAGE_CELLS = 64  # parameters per channel of an input-space image search (about 8 x 8 cells)
INVERSION_BUDGET = 2000  # generator rows per input to invert it when there is no encoder


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
    """Rows searched in lockstep, CF_ROWS_PER_UNIT a unit (one for large inputs: a search there takes minutes)."""
    rows = pick_rows(ctx, settings.samples, seed, "counterfactual-rows")
    slices = chunks(rows, per_unit(ctx, CF_ROWS_PER_UNIT, 1), "samples")
    classes = matrix_classes(ctx, settings)
    if len(classes) >= 2:
        only = None if len(classes) == ctx.blackbox.n_classes else classes
        rows = pick_rows(ctx, settings.matrix_per_class * len(classes), seed, "matrix-rows", only)
        slices += chunks(rows, per_unit(ctx, max(1, CF_PAIRS_PER_UNIT // (len(classes) - 1)), 1), "matrix")
    return slices


def matrix_classes(ctx: Context, settings: CounterfactualSettings) -> tuple[int, ...]:
    """The classes of the flip matrix (none when it is off)."""
    return covered_classes(ctx, settings.matrix_classes) if settings.matrix else ()


def search_dim(ctx: Context) -> int:
    """Parameters of a counterfactual search here: the generator's latent, IMAGE_CELLS a channel for
    images (grid cells, or as many coefficients of an image basis), else every feature."""
    if ctx.generator is not None:
        return ctx.generator.latent_dim
    if ctx.is_image:
        view = Features(ctx.blackbox.input_shape, ctx.blackbox.layout)
        return IMAGE_CELLS * (view.size // int(np.prod(view.map_shape)))
    return int(np.prod(ctx.blackbox.input_shape))


def inversion_work(ctx: Context, inputs: int, method: str) -> Work:
    """Without an encoder, each input's start in the generator's latent space is searched first: up to
    INVERSION_BUDGET generator rows (no classifier query) and their search generations."""
    if ctx.generator is None or ctx.encoder is not None:
        return Work(0, 0)
    generations = -(-INVERSION_BUDGET // NOMINAL_POPULATION)
    return Work(
        0,
        0,
        generator_rows=inputs * INVERSION_BUDGET,
        steps={(method, ctx.generator.latent_dim): inputs * generations},
    )


def estimate(ctx: Context, settings: CounterfactualSettings, slices: list[Slice]) -> Work:
    """Every search spending its budget (counterfactual searches do), and the generator's inversions."""
    dim = search_dim(ctx)
    latent = ctx.generator is not None
    samples = [len(items) for part, items in slices if part == "samples"]
    work = search_work(
        samples, search_budget(ctx, settings.budget), settings.method, dim, latent, sum(samples)
    )
    others = len(matrix_classes(ctx, settings)) - 1
    pairs = [len(items) * others for part, items in slices if part == "matrix"]
    work = add_work(
        work, search_work(pairs, settings.matrix_budget, settings.method, dim, latent, sum(pairs))
    )
    inputs = sum(samples) + sum(len(items) for part, items in slices if part == "matrix")
    work = add_work(work, inversion_work(ctx, inputs, settings.method))
    return replace(work, classes=matrix_classes(ctx, settings) or None)


def reduce(
    ctx: Context, settings: CounterfactualSettings, share: float, why: str
) -> Reduced[CounterfactualSettings]:
    full = replace(
        settings,
        budget=search_budget(ctx, settings.budget),
        matrix_classes=covered_classes(ctx, settings.matrix_classes),
    )
    if not settings.matrix:
        return scale(full, LEAST_SAMPLES, share, why)
    # the flip matrix (classes x classes searches) is cut first, the explained rows with what is left
    total = _queries(ctx, full)
    rows_only = _queries(ctx, replace(full, matrix=False))
    target = share * total
    matrix_share = max(target - rows_only, 0.0) / max(total - rows_only, 1)
    reduced, made = scale(full, LEAST_MATRIX, matrix_share, why)
    rows_share = max(target - (_queries(ctx, reduced) - rows_only), 0.0) / max(rows_only, 1)
    reduced, more = scale(reduced, LEAST_SAMPLES, min(rows_share, 1.0), why)
    return reduced, made + more


def _queries(ctx: Context, settings: CounterfactualSettings) -> int:
    return estimate(ctx, settings, plan(ctx, settings, ctx.config.run.seed)).queries


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
        target: CfTarget | int | np.ndarray = resolved_target(settings.target)
        budget = search_budget(ctx, settings.budget)
    else:
        classes = matrix_classes(ctx, settings)
        pairs = [(i, b) for i, a in enumerate(labels) if a >= 0 for b in classes if b != a]
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


def _flip_matrix(
    ctx: Context, settings: CounterfactualSettings, results: list[CounterfactualResult]
) -> dict[str, Any]:
    """The one-vs-one flip table of the matrix part (`FlipMatrix.to_dict`); over the matrix classes only
    (listed in "classes") when they are not all of the model's."""
    from auditor.explain.counterfactuals import FlipMatrix  # optional in a build: see unmet()

    table = FlipMatrix.of(results, ctx.blackbox.class_names)
    classes = matrix_classes(ctx, settings)
    if len(classes) == ctx.blackbox.n_classes:
        return table.to_dict()
    return {"classes": list(classes), **table.among(classes).to_dict()}


def merge(ctx: Context, settings: CounterfactualSettings, parts: list[Searches]) -> Outcome:
    from auditor.explain.counterfactuals import summarize  # optional in a build: see unmet()

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
            titles = (
                f"input {row}: class {ctx.class_name(result.source)}",
                f"counterfactual: class {ctx.class_name(result.target)}",
                "change",
            )
            picture = ctx.display.comparison(result.x, result.counterfactuals[0], titles)
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
        "flip_matrix": _flip_matrix(ctx, settings, matrix) if matrix else None,
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
    estimate=estimate,
    reduce=reduce,
)
