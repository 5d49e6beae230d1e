"""The stability check: how often input noise (Gaussian, or replacement for discrete inputs) flips predictions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    LARGE_ROWS_PER_UNIT,
    ROWS_PER_UNIT,
    Check,
    Reduced,
    Slice,
    Unit,
    calls_for,
    chunks,
    criteria,
    nonfinite_facts,
    per_unit,
)
from auditor.audit.checks.inputs import no_inputs, unit_rows
from auditor.audit.config import StabilitySettings
from auditor.audit.plan import Work, scale
from auditor.audit.results import Criterion, Figure, Outcome
from auditor.audit.seeds import unit_seed
from auditor.pictures import grid_png
from auditor.value_sets import ValueSet

FLIP_EXAMPLES = 8
LEAST = (("samples", 20), ("repeats", 2))  # what a time budget may cut, in order, and how far


@dataclass(frozen=True)
class Flips:
    """One unit's labels: clean and noisy predictions of its rows (-1: non-finite), and a few flipped pairs."""

    items: np.ndarray  # the unit's row indices
    clean: np.ndarray  # (rows,)
    noisy: np.ndarray  # (rows, repeats)
    example_clean: np.ndarray  # inputs whose prediction flipped ...
    example_noisy: np.ndarray  # ... their first noisy copy that flipped
    example_labels: np.ndarray  # (examples, 2): clean and noisy label


def unmet(ctx: Context, settings: StabilitySettings) -> str | None:
    return no_inputs(ctx, "to perturb")


def plan(ctx: Context, settings: StabilitySettings, seed: int) -> list[Slice]:
    # a unit's noisy rows stay near ROWS_PER_UNIT (LARGE_ROWS_PER_UNIT for large inputs)
    noisy = per_unit(ctx, ROWS_PER_UNIT, LARGE_ROWS_PER_UNIT)
    per_unit_rows = max(1, noisy // settings.repeats)
    if ctx.data is None:
        return chunks(range(settings.samples), per_unit_rows)
    rng = np.random.default_rng(unit_seed(seed, "stability-rows", 0))
    n = len(ctx.data)
    rows = np.sort(rng.permutation(n)[: min(settings.samples, n)])
    return chunks(rows, per_unit_rows)


def estimate(ctx: Context, settings: StabilitySettings, slices: list[Slice]) -> Work:
    sizes = [len(items) * (1 + settings.repeats) for _, items in slices]
    return Work(sum(sizes), calls_for(sizes, ctx.blackbox.batch_size))


def reduce(ctx: Context, settings: StabilitySettings, share: float, why: str) -> Reduced[StabilitySettings]:
    """Cut from the rows the check really tests (no more than the data holds), so repeats are cut too when
    the data has fewer rows than `samples`."""
    rows = min(settings.samples, len(ctx.data)) if ctx.data is not None else settings.samples
    return scale(replace(settings, samples=rows), LEAST, share, why)


def noise_scale(ctx: Context, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element noise std and clip bounds: a fraction of the value range for images, of each feature's std else."""
    ref = ctx.reference
    assert ref is not None
    if ctx.is_image:
        lo, hi = ctx.value_range
        shape = ref.shape[1:]
        return np.full(shape, noise * (hi - lo)), np.full(shape, lo), np.full(shape, hi)
    return noise * np.nanstd(ref, axis=0), np.nanmin(ref, axis=0), np.nanmax(ref, axis=0)


def input_values(ctx: Context) -> ValueSet:
    """The values a one-tensor input takes: discrete (ids, bytes) when its dtype is an integer type."""
    return ctx.blackbox.input_values(ctx.reference)


def run(ctx: Context, settings: StabilitySettings, unit: Unit) -> Flips:
    rng = np.random.default_rng(unit.seed)
    x = unit_rows(ctx, unit, rng).astype(np.float32)
    repeats = settings.repeats
    std, lo, hi = noise_scale(ctx, settings.noise)
    noisy = np.repeat(x, repeats, axis=0)
    noisy = input_values(ctx).perturb(noisy, settings.noise, rng, std, (lo, hi)).astype(np.float32)
    labels = ctx.blackbox.predict_labels(np.concatenate([x, noisy]))
    clean, perturbed = labels[: len(x)], labels[len(x) :].reshape(len(x), repeats)
    flipped = np.flatnonzero((perturbed != clean[:, None]).any(axis=1) & (clean >= 0))[:FLIP_EXAMPLES]
    first = [int(np.flatnonzero(perturbed[i] != clean[i])[0]) for i in flipped]
    example_labels = [[clean[i], perturbed[i, j]] for i, j in zip(flipped, first)]
    return Flips(
        items=np.asarray(unit.items, dtype=np.int64),
        clean=clean,
        noisy=perturbed,
        example_clean=x[flipped],
        example_noisy=noisy.reshape(len(x), repeats, *x.shape[1:])[flipped, first],
        example_labels=np.array(example_labels).reshape(-1, 2),
    )


def merge(ctx: Context, settings: StabilitySettings, parts: list[Flips]) -> Outcome:
    clean_all = np.concatenate([p.clean for p in parts])
    noisy_all = np.concatenate([p.noisy for p in parts])
    scored = clean_all >= 0  # rows whose own prediction is finite; the others cannot flip and are left out
    skipped = np.concatenate([p.items for p in parts])[~scored]
    rate, tests, figures_of_flips = flip_figures(ctx, settings, clean_all, noisy_all)
    std, _, _ = noise_scale(ctx, settings.noise)
    values = input_values(ctx)
    details = {
        "inputs": "data rows" if ctx.data is not None else "generator prior samples",
        **figures_of_flips,
        **nonfinite_facts(skipped, "these inputs were left out of the flip rates"),
        "noise": (
            {
                "kind": "replacement",
                "relative_to": "value set",
                "fraction": settings.noise,
                "values": values.to_dict(),
            }
            if values.discrete
            else {
                "kind": "gaussian",
                "relative_to": "value range" if ctx.is_image else "feature std",
                "fraction": settings.noise,
                "mean_std": float(np.mean(std)),
            }
        ),
    }
    figures: tuple[Figure, ...] = ()
    examples = [
        (c, n, lab) for p in parts for c, n, lab in zip(p.example_clean, p.example_noisy, p.example_labels)
    ]
    examples = examples[:FLIP_EXAMPLES]
    if ctx.is_image and examples:
        tiles = [t for c, n, _ in examples for t in (ctx.display.tile(c), ctx.display.tile(n))]
        caption = "Pairs (clean, noisy) whose prediction flipped: " + "; ".join(
            f"{ctx.class_name(int(a))} → {ctx.class_name(int(b))}" for _, _, (a, b) in examples
        )
        figures = (Figure("stability-flips", caption, grid_png(tiles, 4)),)
    details["examples"] = [{"clean": int(a), "noisy": int(b)} for _, _, (a, b) in examples]
    return Outcome(rate, "flip rate", "lower", tests, details, figures)


def flip_figures(
    ctx: Context, settings: StabilitySettings, clean_all: np.ndarray, noisy_all: np.ndarray
) -> tuple[float | None, tuple[Criterion, ...], dict[str, Any]]:
    """The flip rate, its criteria and figures from each row's class (-1: not finite) and its noisy copies'
    (rows, repeats): rows whose own prediction is not finite cannot flip and are left out."""
    scored = clean_all >= 0
    clean, noisy = clean_all[scored], noisy_all[scored]
    flips = noisy != clean[:, None]
    k = ctx.blackbox.n_classes
    rate = float(flips.mean()) if flips.size else None
    per_class: list[dict[str, Any]] = []
    for c in range(k):
        rows = clean == c
        targets = np.bincount(noisy[rows][flips[rows]].clip(-1) + 1, minlength=k + 1)[1:]
        per_class.append(
            {
                "class": c,
                "name": ctx.class_name(c),
                "rows": int(rows.sum()),
                "flip_rate": float(flips[rows].mean()) if rows.any() else None,
                "most_common_target": int(targets.argmax()) if targets.any() else None,
            }
        )
    rates = [c["flip_rate"] for c in per_class if c["flip_rate"] is not None]
    tests = criteria(
        ("flip rate", rate, "<=", settings.max_flip_rate),
        ("highest per-class flip rate", max(rates) if rates else None, "<=", settings.max_class_flip_rate),
    )
    figures = {
        "rows": len(clean),
        "perturbed_rows": int(flips.size),
        "flip_rate": rate,
        "rows_with_a_flip": float(flips.any(axis=1).mean()) if len(clean) else None,
        "highest_class_flip_rate": max(rates) if rates else None,
        "invalid_predictions": int((noisy_all < 0).sum() + (~scored).sum()),
        "nonfinite_noisy": int((noisy < 0).sum()),  # noisy copies of a scored row without a finite prediction
        "per_class": per_class,
    }
    return rate, tests, figures


STABILITY = Check(
    "stability",
    "Stability under input noise",
    settings=lambda config: config.checks.stability,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
    estimate=estimate,
    reduce=reduce,
)
