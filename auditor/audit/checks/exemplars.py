"""The exemplars check: for each class, searched inputs the model gives it with high confidence."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    LARGE_INPUT_VALUES,
    Check,
    Reduced,
    Slice,
    Unit,
    build_lacks,
    chunks,
    criteria,
    per_unit,
    search_budget,
    search_work,
)
from auditor.audit.checks.inputs import covered_classes
from auditor.audit.config import ExemplarSettings
from auditor.audit.plan import Work, scale
from auditor.audit.results import Figure, Outcome
from auditor.explain.attribution.core import Features
from auditor.pictures import grid_png

if TYPE_CHECKING:
    from auditor.explain.exemplars import ClassExemplars, ExemplarSet

EXEMPLAR_CLASSES_PER_UNIT = 5
BASIS_COEFFICIENTS = 64  # per channel: large images are searched in an 8 x 8 DCT basis (explain.image_bases)
OVERSHOOT = 49  # a search may pass its budget by less than one generation (momentum ES starts with 50 rows)
LEAST = (("per_class", 1), ("budget", 300), ("classes", 2))  # what a time budget may cut, in order, how far


def unmet(ctx: Context, settings: ExemplarSettings) -> str | None:
    lacks = build_lacks("auditor.explain.exemplars", "the exemplar search (auditor.explain.exemplars)")
    if lacks is None and ctx.generator is None and ctx.data is None:
        return "no generator and no data given: the search needs one ([generator] path or [data] path)"
    return lacks


def plan(ctx: Context, settings: ExemplarSettings, seed: int) -> list[Slice]:
    classes = list(covered_classes(ctx, settings.classes))
    return chunks(classes, per_unit(ctx, EXEMPLAR_CLASSES_PER_UNIT, 1), "classes")


def estimate(ctx: Context, settings: ExemplarSettings, slices: list[Slice]) -> Work:
    """Every search spending its budget (they stop earlier once they reach the confidence)."""
    generator = ctx.generator
    shape = ctx.blackbox.input_shape
    if generator is not None:
        dim = generator.latent_dim
    elif ctx.is_image and int(np.prod(shape)) > LARGE_INPUT_VALUES:  # an 8 x 8 DCT basis per channel
        view = Features(shape, ctx.blackbox.layout)
        dim = BASIS_COEFFICIENTS * (view.size // int(np.prod(view.map_shape)))
    else:
        dim = int(np.prod(shape))
    rounds = [len(items) for _, items in slices for _ in range(settings.per_class)]
    budget = search_budget(ctx, settings.budget)
    work = search_work(rounds, budget, settings.method, dim, generator is not None, overshoot=OVERSHOOT)
    return replace(work, classes=tuple(k for _, items in slices for k in items))


def reduce(ctx: Context, settings: ExemplarSettings, share: float, why: str) -> Reduced[ExemplarSettings]:
    full = replace(
        settings,
        classes=covered_classes(ctx, settings.classes),
        budget=search_budget(ctx, settings.budget),
    )
    return scale(full, LEAST, share, why)


def run(ctx: Context, settings: ExemplarSettings, unit: Unit) -> ExemplarSet:
    from auditor.explain.exemplars import ExemplarParams, exemplars  # optional in a build: see unmet()

    return exemplars(
        ctx.blackbox,
        ctx.generator,
        list(unit.items),
        reference=ctx.reference if ctx.generator is None else None,
        params=ExemplarParams(
            per_class=settings.per_class,
            method=settings.method,
            budget=search_budget(ctx, settings.budget),
            threshold=settings.min_confidence,
        ),
        rng=unit.seed,
    )


def class_row(group: ClassExemplars) -> dict[str, Any]:
    """A class's figures (`ClassExemplars.to_dict`) under the report's names too: class, name, mean_latent_distance."""
    figures = group.to_dict()
    return {
        "class": figures["target"],
        "name": figures["target_name"],
        "mean_latent_distance": figures["mean_distance"],
        **figures,
    }


def merge(ctx: Context, settings: ExemplarSettings, parts: list[ExemplarSet]) -> Outcome:
    classes = [group for part in parts for group in part.classes]
    rows = [class_row(group) for group in classes]
    listed = [
        exemplar.to_dict(with_input=not ctx.is_image) for group in classes for exemplar in group.exemplars
    ]
    figures: list[Figure] = []
    if ctx.is_image:
        for group in classes:
            tiles = [ctx.display.tile(exemplar.input) for exemplar in group.exemplars]
            caption = f"Class {group.target_name}: confidence " + ", ".join(
                f"{exemplar.confidence:.3f}" for exemplar in group.exemplars
            )
            figures.append(Figure(f"exemplars-class-{group.target}", caption, grid_png(tiles, len(tiles))))
    reached = [row for row in rows if row["found"] > 0]
    share = len(reached) / len(rows) if rows else 0.0
    tests = criteria(("classes reached", share, ">=", settings.min_reached))
    space = parts[0].space if parts else "latent"
    details = {
        "space": space,
        "method": settings.method,
        "threshold": settings.min_confidence,
        "classes_reached": share,
        "unreached": [row["name"] for row in rows if row["found"] == 0],
        "per_class": rows,
        "exemplars": listed,
    }
    derived = {"budget": search_budget(ctx, settings.budget), "space": space}
    return Outcome(share, "classes reached", "higher", tests, details, tuple(figures), derived)


EXEMPLARS = Check(
    "exemplars",
    "Class exemplars through the generator",
    settings=lambda config: config.checks.exemplars,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
    estimate=estimate,
    reduce=reduce,
    shared_seed=True,
)
