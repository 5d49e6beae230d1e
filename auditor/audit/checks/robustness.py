"""The robustness check: each chosen row's smallest L∞ or L2 perturbation that changes the model's label.

Opt-in: it runs only when the config has a [checks.robustness] table. Radii are in model input units and
come from `auditor.explain.robustness` (Square Attack or our evolution strategies with scores, a HopSkipJump-style
walk with labels only). A row not flipped within the budget counts at the largest radius tried without a flip:
when such a row decides the median, the median is only a lower bound (`median_radius_censored`), and
`min_median_radius` then passes at or above it and is not judged below it (never failed on an unmeasured radius).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import Check, Slice, Unit, chunks, criteria, nonfinite_facts
from auditor.audit.checks.inputs import no_inputs, pick_rows, unit_rows
from auditor.audit.config import AuditConfig, RobustnessSettings, config_error
from auditor.audit.results import Figure, Outcome
from auditor.explain.robustness import InputRadius, RobustnessParams, censored_median, robustness
from auditor.pictures import grid_png

ROWS_PER_UNIT = 64  # rows searched in lockstep by one unit
EXAMPLES = 6  # flipped rows drawn in the report
OFF = RobustnessSettings(enabled=False)  # the settings of a config without [checks.robustness]


@dataclass(frozen=True)
class Radii:
    """One unit's searches: its rows' radii (with their data row indices), correctness and a few drawn pairs."""

    rows: tuple[int, ...]
    inputs: tuple[InputRadius, ...]
    correct: np.ndarray  # (rows,) labelled right; all True without labels
    method: str
    labels_only: bool
    queries: int
    examples: tuple[tuple[int, np.ndarray, np.ndarray], ...]  # (row, input, perturbed) of flipped rows


def settings_of(config: AuditConfig) -> RobustnessSettings:
    return config.checks.robustness or OFF


def unmet(ctx: Context, settings: RobustnessSettings) -> str | None:
    if np.dtype(ctx.blackbox.signature.input.dtype).kind not in "f":
        return "the model's input is not a float tensor; robustness radii need continuous inputs"
    return no_inputs(ctx, "to perturb")


def plan(ctx: Context, settings: RobustnessSettings, seed: int) -> list[Slice]:
    if settings.max_accuracy_drop_at_eps is not None and settings.eps is None:
        raise config_error(
            ctx.config,
            "checks.robustness.max_accuracy_drop_at_eps",
            "needs 'eps', the radius (model input units) the accuracy drop is measured at",
        )
    if ctx.data is None:
        return chunks(range(settings.samples), ROWS_PER_UNIT)
    return chunks(sorted(pick_rows(ctx, settings.samples, seed, "robustness-rows")), ROWS_PER_UNIT)


def params(settings: RobustnessSettings) -> RobustnessParams:
    """The library's parameters for these settings."""
    return RobustnessParams(
        method=settings.method,  # type: ignore[arg-type]  # a knob with the library's choices
        norm=settings.norm,  # type: ignore[arg-type]
        budget=settings.budget,
        labels_only=settings.labels_only,
    )


def run(ctx: Context, settings: RobustnessSettings, unit: Unit) -> Radii:
    x = unit_rows(ctx, unit, np.random.default_rng(unit.seed))
    labels = ctx.data.y[list(unit.items)] if ctx.data is not None and ctx.data.y is not None else None
    result = robustness(
        ctx.blackbox, x, params(settings), labels=labels, reference=ctx.reference, rng=unit.seed
    )
    correct = np.ones(len(x), bool) if result.correct is None else result.correct
    flipped = [i for i, entry in enumerate(result.inputs) if entry.found][:EXAMPLES] if ctx.is_image else []
    return Radii(
        rows=unit.items,
        inputs=result.inputs,
        correct=correct,
        method=result.method,
        labels_only=result.labels_only,
        queries=result.queries,
        examples=tuple((unit.items[i], result.x[i], result.perturbed[i]) for i in flipped),
    )


def merge(ctx: Context, settings: RobustnessSettings, parts: list[Radii]) -> Outcome:
    entries = [(row, entry) for p in parts for row, entry in zip(p.rows, p.inputs)]
    skipped = [row for row, entry in entries if entry.source < 0]
    scored = [(row, entry) for row, entry in entries if entry.source >= 0]
    radii = np.array([np.inf if e.radius is None else e.radius for _, e in scored], dtype=np.float64)
    bounds = np.array([(e.lower_bound or 0.0) if e.radius is None else e.radius for _, e in scored])
    sources = np.array([e.source for _, e in scored], dtype=np.int64)
    correct = np.concatenate([p.correct for p in parts])[[e.source >= 0 for _, e in entries]]
    median_radius, censored = censored_median(radii, bounds)
    found = float(np.isfinite(radii).mean()) if radii.size else None
    drop = None
    if settings.eps is not None and radii.size:
        drop = float(correct.mean() - (correct & (radii > settings.eps)).mean())
    per_class = [
        {
            "class": k,
            "name": ctx.class_name(k),
            "rows": int((sources == k).sum()),
            **_median_figures(radii[sources == k], bounds[sources == k]),
            "found": int(np.isfinite(radii[sources == k]).sum()),
        }
        for k in range(ctx.blackbox.n_classes)
        if (sources == k).any()
    ]
    threshold = settings.min_median_radius
    unjudged = censored and threshold is not None and median_radius is not None and median_radius < threshold
    # a censored median is a lower bound on the true one: it passes at or above the threshold, else unjudged
    tests = criteria(
        ("median radius", median_radius, ">=", None if unjudged else threshold),
        ("accuracy drop at eps", drop, "<=", settings.max_accuracy_drop_at_eps),
    )
    method = parts[0].method if parts else None
    details: dict[str, Any] = {
        "inputs": "data rows" if ctx.data is not None else "generator prior samples",
        "method": method,
        "norm": settings.norm,
        "labels_only": parts[0].labels_only if parts else settings.labels_only,
        "budget": settings.budget,
        "rows": len(scored),
        "median_radius": median_radius,
        "median_radius_censored": censored,
        "median_radius_note": (
            "inputs not flipped within the budget count at the largest radius tried without a flip (a lower "
            "bound), and one of them decides the median: the median radius is at least this figure"
            + (
                f"; min_median_radius {threshold:g} not judged (the figure is only a lower bound)"
                if unjudged
                else ""
            )
            if censored
            else None
        ),
        "found_fraction": found,
        "eps": settings.eps,
        "accuracy_clean": float(correct.mean()) if correct.size else None,
        "accuracy_drop_at_eps": drop,
        "per_class": per_class,
        "radii": [{**entry.to_dict(ctx.blackbox.class_names), "index": row} for row, entry in scored],
        **nonfinite_facts(skipped, "these inputs were not searched and are left out of the figures"),
    }
    examples = [example for p in parts for example in p.examples][:EXAMPLES]
    figures: tuple[Figure, ...] = ()
    if ctx.is_image and examples:
        found_by_row = dict(scored)
        tiles = [
            tile
            for _, x, perturbed in examples
            for tile in (
                ctx.display.tile(x),
                ctx.display.tile(perturbed),
                ctx.display.change_tile(x, perturbed),
            )
        ]
        flips = [(row, found_by_row[row]) for row, _, _ in examples]
        caption = f"Smallest {settings.norm} flips (input, perturbed, difference): " + "; ".join(
            f"row {row}: {ctx.class_name(entry.source)} → "
            f"{ctx.class_name(-1 if entry.flipped_to is None else entry.flipped_to)} at {entry.radius:.3g}"
            for row, entry in flips
        )
        figures = (Figure("robustness-flips", caption, grid_png(tiles, 3)),)
    return Outcome(median_radius, "median radius", "higher", tests, details, figures, {"method": method})


def _median_figures(radii: np.ndarray, bounds: np.ndarray) -> dict[str, Any]:
    value, censored = censored_median(radii, bounds)
    return {"median_radius": value, "median_radius_censored": censored}


ROBUSTNESS = Check(
    "robustness",
    "Robustness: smallest label-changing perturbation",
    settings=settings_of,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
    opt_in=True,
)
