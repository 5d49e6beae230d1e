"""The attributions check: attribution maps of chosen rows and whether deleting their top features hurts the score."""

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
)
from auditor.audit.checks.inputs import no_inputs, pick_rows, unit_rows
from auditor.pictures import curves, grid_png, png_bytes

TOP_FEATURES = 8
AUC_KEYS = ("deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc")


def missing(ctx: Context, s: Any) -> str | None:
    lacks = build_lacks(
        "auditor.explain.attribution.metrics", "the attribution methods (auditor.explain.attribution)"
    )
    return lacks or no_inputs(ctx, "to explain")


def plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    rows = (
        pick_rows(ctx, s.samples, seed, "attribution-rows")
        if ctx.data is not None
        else list(range(s.samples))
    )
    return chunks(rows, 1, "samples")


def attribution_baseline(ctx: Context, s: Any) -> str | float:
    if s.baseline != "auto":
        return s.baseline
    return "zero" if ctx.is_image or ctx.reference is None else "mean"


# (row, input, (map, faithfulness) per method, scored)
AttrPart = tuple[int, np.ndarray, list[tuple[Any, Any]], bool]


def run(ctx: Context, s: Any, unit: Unit) -> AttrPart:
    from auditor.explain.attribution import faithfulness, gaussian_lime, lime, occlusion

    rng = np.random.default_rng(unit.seed)
    x = unit_rows(ctx, unit, rng)[0]
    bb, ref = ctx.blackbox, ctx.reference
    if bb.predict_labels(x[None])[0] < 0:  # NaN or infinite scores for the input itself: nothing to explain
        return unit.items[0], x, [], False
    baseline = attribution_baseline(ctx, s)
    maps = []
    for method in s.methods:
        seed = int(rng.integers(2**31))
        if method == "occlusion":
            a = occlusion(bb, x, baseline=baseline, window=s.window, stride=s.stride, reference=ref, rng=seed)
        elif method == "lime":
            a = lime(
                bb, x, baseline=baseline, samples=s.lime_samples, window=s.window, reference=ref, rng=seed
            )
        else:
            a = gaussian_lime(bb, x, samples=s.lime_samples, reference=ref, rng=seed)
        f = faithfulness(
            bb,
            x,
            a.map,
            target=a.target,
            baseline=baseline,
            steps=s.steps,
            orders=s.orders,
            reference=ref,
            rng=seed,
        )
        maps.append((a, f))
    return unit.items[0], x, maps, True


def merge(ctx: Context, s: Any, parts: list[AttrPart]) -> Outcome:
    rows, figures = [], []
    names = ctx.data.feature_names if ctx.data is not None else None
    for row, x, maps, _ in parts:
        for a, f in maps:
            faithful = f.deletion_auc < f.random_deletion_auc and f.insertion_auc > f.random_insertion_auc
            entry: dict[str, Any] = {
                "index": row,
                "method": a.method,
                "target": a.target,
                "target_name": ctx.class_name(a.target),
                "score": a.score,
                "score_input": a.score_input,
                "deletion_auc": f.deletion_auc,
                "insertion_auc": f.insertion_auc,
                "random_deletion_auc": f.random_deletion_auc,
                "random_insertion_auc": f.random_insertion_auc,
                "faithful": bool(faithful),
                "fidelity": a.fidelity,
                "queries": int(a.queries + f.queries),
                "shape": list(a.shape),
            }
            if not ctx.is_image:
                flat_map = np.asarray(a.map, np.float64).reshape(-1)
                top = np.argsort(-np.abs(flat_map), kind="stable")[:TOP_FEATURES]
                entry["top_features"] = [
                    {
                        "feature": int(i),
                        "name": names[i] if names and i < len(names) else str(int(i)),
                        "attribution": float(flat_map[i]),
                        "value": float(np.asarray(x).reshape(-1)[i]),
                    }
                    for i in top
                ]
            rows.append(entry)
        label = ctx.class_name(maps[0][0].target) if maps else ""
        if ctx.is_image and maps:
            tiles = [ctx.display.tile(x)] + [ctx.display.heat_tile(x, a.map) for a, _ in maps]
            caption = f"Row {row}, explained class {label}: input, then " + ", ".join(
                a.method for a, _ in maps
            )
            figures.append(Figure(f"attribution-{len(figures)}", caption, grid_png(tiles, len(tiles))))
        if maps:
            series = {}
            for a, f in maps:
                series[f"{a.method} deletion"] = (f.fractions, _unit_curve(f.deletion, f.deletion[0]))
            first = maps[0][1]
            series["random deletion"] = (
                first.fractions,
                _unit_curve(first.random_deletion, first.deletion[0]),
            )
            chart = curves(
                series, "share of features removed", "score / score of the input", f"Deletion, row {row}"
            )
            figures.append(
                Figure(
                    f"attribution-{len(figures)}", f"Deletion curves, row {row} ({label})", png_bytes(chart)
                )
            )
    share = float(np.mean([r["faithful"] for r in rows])) if rows else None
    tests = criteria(("faithful maps", share, ">=", s.min_faithful))
    details = {
        "baseline": attribution_baseline(ctx, s),
        "methods": list(s.methods),
        "faithful_share": share,
        **{f"median_{key}": float(np.median([r[key] for r in rows])) if rows else None for key in AUC_KEYS},
        "maps": rows,
        **nonfinite_facts(
            [row for row, _, _, scored in parts if not scored], "these inputs were not explained"
        ),
    }
    return Outcome(
        share, "faithful maps", "higher", tests, details, tuple(figures), {"baseline": details["baseline"]}
    )


def _unit_curve(values: np.ndarray, start: float) -> np.ndarray:
    """A score curve over the input's own score, so curves of different scales share one chart."""
    return np.asarray(values, np.float64) / start if start else np.asarray(values, np.float64)


ATTRIBUTIONS = Check("attributions", "Attribution maps and their faithfulness", missing, plan, run, merge)
