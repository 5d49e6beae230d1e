"""The exemplars check: for each class, searched inputs the model gives it with high confidence."""

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
    search_budget,
)
from auditor.pictures import grid_png

EXEMPLAR_CLASSES_PER_UNIT = 5


def missing(ctx: Context, s: Any) -> str | None:
    lacks = build_lacks("auditor.explain.exemplars", "the exemplar search (auditor.explain.exemplars)")
    if lacks is None and ctx.generator is None and (ctx.is_image or ctx.data is None):
        return (
            "no generator given ([generator] path / --generator); image exemplars need one, tables need data"
        )
    return lacks


def _exemplar_classes(ctx: Context, s: Any) -> list[int]:
    return list(range(ctx.blackbox.n_classes)) if s.classes == "all" else list(s.classes)


def plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    return chunks(_exemplar_classes(ctx, s), EXEMPLAR_CLASSES_PER_UNIT, "classes")


def run(ctx: Context, s: Any, unit: Unit) -> Any:
    from auditor.explain.exemplars import ExemplarParams, exemplars

    return exemplars(
        ctx.blackbox,
        ctx.generator,
        list(unit.items),
        reference=ctx.reference if ctx.generator is None else None,
        params=ExemplarParams(
            per_class=s.per_class, method=s.method, budget=search_budget(ctx, s), threshold=s.min_confidence
        ),
        rng=unit.seed,
    )


def merge(ctx: Context, s: Any, parts: list[Any]) -> Outcome:
    classes = [c for part in parts for c in part.classes]
    rows, figures, listed = [], [], []
    for c in classes:
        conf = [e.confidence for e in c.exemplars]
        firsts = [
            e.first_success_queries for e in c.exemplars if e.success and e.first_success_queries is not None
        ]
        rows.append(
            {
                "class": c.target,
                "name": c.target_name,
                "best_confidence": float(max(conf)),
                "found": int(sum(e.success for e in c.exemplars)),
                "searches": len(c.exemplars),
                "queries": int(c.queries),
                "median_queries_to_reach": float(np.median(firsts)) if firsts else None,
                "mean_latent_distance": c.mean_distance,
                "stop_reasons": sorted({e.stop_reason for e in c.exemplars}),
            }
        )
        for e in c.exemplars:
            entry: dict[str, Any] = {
                "target": c.target,
                "target_name": c.target_name,
                "confidence": e.confidence,
                "success": e.success,
                "queries": e.queries,
                "latent": [float(v) for v in e.latent],
            }
            if not ctx.is_image:
                entry["input"] = [float(v) for v in np.asarray(e.input).reshape(-1)]
            listed.append(entry)
        if ctx.is_image:
            tiles = [ctx.display.tile(e.input) for e in c.exemplars]
            caption = f"Class {c.target_name}: confidence " + ", ".join(f"{v:.3f}" for v in conf)
            figures.append(Figure(f"exemplars-class-{c.target}", caption, grid_png(tiles, len(tiles))))
    reached = [r for r in rows if r["found"] > 0]
    share = len(reached) / len(rows) if rows else 0.0
    tests = criteria(("classes reached", share, ">=", s.min_reached))
    space = parts[0].space if parts else "latent"
    details = {
        "space": space,
        "method": s.method,
        "threshold": s.min_confidence,
        "classes_reached": share,
        "unreached": [r["name"] for r in rows if r["found"] == 0],
        "per_class": rows,
        "exemplars": listed,
    }
    derived = {"budget": search_budget(ctx, s), "space": space}
    return Outcome(share, "classes reached", "higher", tests, details, tuple(figures), derived)


EXEMPLARS = Check(
    "exemplars", "Class exemplars through the generator", missing, plan, run, merge, shared_seed=True
)
