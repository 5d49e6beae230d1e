"""The attributions check: attribution maps of chosen rows and whether deleting their top features hurts the score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    Check,
    Reduced,
    Slice,
    Unit,
    build_lacks,
    calls_for,
    chunks,
    criteria,
    nonfinite_facts,
)
from auditor.audit.checks.inputs import no_inputs, pick_rows, unit_rows
from auditor.audit.config import AttributionSettings
from auditor.audit.plan import Work, scale
from auditor.audit.results import Figure, Outcome
from auditor.pictures import curves, grid_png, png_bytes

if TYPE_CHECKING:
    from auditor.explain.attribution import Attribution, Faithfulness

TOP_FEATURES = 8
AUC_KEYS = ("deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc")
LEAST = (
    ("samples", 1),
    ("lime_samples", 200),
    ("steps", 10),
    ("orders", 2),
)  # what a time budget may cut, in order, how far


@dataclass(frozen=True)
class Maps:
    """One input's attribution maps, each with its faithfulness; `scored` is False for non-finite scores."""

    row: int
    x: np.ndarray
    maps: list[tuple[Attribution, Faithfulness]]
    scored: bool


def unmet(ctx: Context, settings: AttributionSettings) -> str | None:
    lacks = build_lacks(
        "auditor.explain.attribution.metrics", "the attribution methods (auditor.explain.attribution)"
    )
    return lacks or no_inputs(ctx, "to explain")


def plan(ctx: Context, settings: AttributionSettings, seed: int) -> list[Slice]:
    if ctx.data is None:
        return chunks(range(settings.samples), 1, "samples")
    return chunks(pick_rows(ctx, settings.samples, seed, "attribution-rows"), 1, "samples")


def estimate(ctx: Context, settings: AttributionSettings, slices: list[Slice]) -> Work:
    """Per input: its own prediction, each method's rows and each map's deletion and insertion curves."""
    from auditor.explain.attribution.core import Features  # optional in a build: see unmet()
    from auditor.explain.attribution.occlusion import window_count

    windows = window_count(
        Features(ctx.blackbox.input_shape, ctx.blackbox.layout), settings.window, settings.stride
    )
    rows_of = {
        "occlusion": windows + 2,
        "lime": settings.lime_samples,
        "gaussian-lime": settings.lime_samples + 1,
    }
    curves = 2 * (settings.orders + 1) * (settings.steps + 1)
    batches = [1] + [rows_of[method] for method in settings.methods] + [curves] * len(settings.methods)
    inputs = len(slices)
    return Work(inputs * sum(batches), inputs * calls_for(batches, ctx.blackbox.batch_size))


def reduce(
    ctx: Context, settings: AttributionSettings, share: float, why: str
) -> Reduced[AttributionSettings]:
    sampled = {"lime", "gaussian-lime"} & set(settings.methods)  # lime_samples matters to these only
    return scale(settings, tuple(d for d in LEAST if sampled or d[0] != "lime_samples"), share, why)


def attribution_baseline(ctx: Context, settings: AttributionSettings) -> str | float:
    if settings.baseline != "auto":
        return settings.baseline
    return "zero" if ctx.is_image or ctx.reference is None else "mean"


def run(ctx: Context, settings: AttributionSettings, unit: Unit) -> Maps:
    from auditor.explain.attribution import METHODS, faithfulness, single  # optional: see unmet()
    from auditor.explain.attribution.explanation import ExplainParams, on_value_set

    rng = np.random.default_rng(unit.seed)
    x = unit_rows(ctx, unit, rng)[0]
    blackbox, reference = ctx.blackbox, ctx.reference
    if (
        blackbox.predict_labels(x[None])[0] < 0
    ):  # NaN or infinite scores for the input itself: nothing to explain
        return Maps(unit.items[0], x, [], False)
    maps = []
    for method in settings.methods:
        seed = int(rng.integers(2**31))
        baseline = on_value_set(blackbox, x, attribution_baseline(ctx, settings), reference, seed)
        params = ExplainParams(
            method=method,
            baseline=baseline,
            window=settings.window,
            stride=settings.stride,
            samples=settings.lime_samples,
        )
        # the map as `explain_input` draws it, without its probability query (the row was just scored)
        attribution = single(
            METHODS[method](blackbox, x, rng=seed, **params.method_options(method, reference))
        )
        faithful = faithfulness(
            blackbox,
            x,
            attribution.map,
            target=attribution.target,
            baseline=baseline,
            steps=settings.steps,
            orders=settings.orders,
            reference=reference,
            rng=seed,
        )
        maps.append((attribution, faithful))
    return Maps(unit.items[0], x, maps, True)


def merge(ctx: Context, settings: AttributionSettings, parts: list[Maps]) -> Outcome:
    rows: list[dict[str, Any]] = []
    figures: list[Figure] = []
    names = ctx.data.feature_names if ctx.data is not None else None
    for part in parts:
        row, x, maps = part.row, part.x, part.maps
        for attribution, faith in maps:
            faithful = faith.beats_random
            entry: dict[str, Any] = {
                "index": row,
                "method": attribution.method,
                "target": attribution.target,
                "target_name": ctx.class_name(attribution.target),
                "score": attribution.score,
                "score_input": attribution.score_input,
                "deletion_auc": faith.deletion_auc,
                "insertion_auc": faith.insertion_auc,
                "random_deletion_auc": faith.random_deletion_auc,
                "random_insertion_auc": faith.random_insertion_auc,
                "faithful": bool(faithful),
                "fidelity": attribution.fidelity,
                "queries": int(attribution.queries + faith.queries),
                "shape": list(attribution.shape),
            }
            if not ctx.is_image:
                flat_map = np.asarray(attribution.map, np.float64).reshape(-1)
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
            tiles = [ctx.display.tile(x)] + [
                ctx.display.heat_tile(x, attribution.map) for attribution, _ in maps
            ]
            caption = f"Row {row}, explained class {label}: input, then " + ", ".join(
                attribution.method for attribution, _ in maps
            )
            figures.append(Figure(f"attribution-{len(figures)}", caption, grid_png(tiles, len(tiles))))
        if maps:
            series: dict[str, tuple[Any, Any]] = {}  # (fractions, scores), arrays
            for attribution, faith in maps:
                series[f"{attribution.method} deletion"] = (
                    faith.fractions,
                    _unit_curve(faith.deletion, faith.deletion[0]),
                )
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
    tests = criteria(("faithful maps", share, ">=", settings.min_faithful))
    details = {
        "baseline": attribution_baseline(ctx, settings),
        "methods": list(settings.methods),
        "faithful_share": share,
        **{f"median_{key}": float(np.median([r[key] for r in rows])) if rows else None for key in AUC_KEYS},
        "maps": rows,
        **nonfinite_facts([part.row for part in parts if not part.scored], "these inputs were not explained"),
    }
    return Outcome(
        share, "faithful maps", "higher", tests, details, tuple(figures), {"baseline": details["baseline"]}
    )


def _unit_curve(values: np.ndarray, start: float) -> np.ndarray:
    """A score curve over the input's own score, so curves of different scales share one chart."""
    return np.asarray(values, np.float64) / start if start else np.asarray(values, np.float64)


ATTRIBUTIONS = Check(
    "attributions",
    "Attribution maps and their faithfulness",
    settings=lambda config: config.checks.attributions,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
    estimate=estimate,
    reduce=reduce,
)
