"""The one-vs-one check: "why class A and not class B" (GANMEX's question, Shih, Tien & Karnin, answered
without gradients) for chosen rows, A the predicted class and B the runner-up.

Each row gets a counterfactual toward B. Occlusion of the score log p_A − log p_B against that
counterfactual gives the one-vs-one map; the same occlusion against a zero, blur or mean baseline gives
the one-vs-all map it is compared with. Both maps are judged by one deletion curve: features move, in
map order, from the row to its counterfactual, and the score falls from s(x) to s(counterfactual). The
area under the curve is given as a share of that gap (0: the gap is gone at once, 1: nothing moves until
the end; random orders give about 0.5), so rows of different gaps share one median. A map that ranks the
features telling A from B first has the smaller area. (GANMEX holds maps of its counterfactual baselines
against zero and blur baselines on perturbation metrics; which metric exactly is not settled in our notes,
so this deletion measure toward the counterfactual is our own choice.)

Opt-in: it runs only when the config has a [checks.one_vs_one] table (it searches a counterfactual per row).
Rows without a valid counterfactual are listed and left out of the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    NAMED_ROWS,
    Check,
    Reduced,
    Slice,
    Unit,
    add_work,
    build_lacks,
    calls_for,
    chunks,
    criteria,
    nonfinite_facts,
    search_budget,
    search_work,
)
from auditor.audit.checks.counterfactuals import inversion_work, search_dim
from auditor.audit.checks.inputs import pick_rows
from auditor.audit.config import AuditConfig, OneVsOneSettings
from auditor.audit.plan import Work, scale
from auditor.audit.results import Figure, Outcome
from auditor.explain.attribution import (
    Attribution,
    Attributions,
    Faithfulness,
    Features,
    faithfulness,
    occlusion,
    one_vs_one,
)
from auditor.explain.attribution.occlusion import window_count
from auditor.pictures import grid_png

#: what a time budget may cut, in order, how far: each search's budget, then the rows explained
LEAST = (("budget", 300), ("samples", 2))
ROWS_PER_UNIT = 8  # rows whose counterfactuals are searched in lockstep by one unit
EXAMPLES = 4  # rows drawn in the report
OFF = OneVsOneSettings(enabled=False)  # the settings of a config without [checks.one_vs_one]


@dataclass(frozen=True)
class Contrast:
    """One row's answer: its counterfactual toward the runner-up and, when that is valid, both maps judged."""

    row: int
    x: np.ndarray
    counterfactual: np.ndarray
    source: int  # A, the predicted class
    contrast: int  # B, the runner-up the counterfactual aims at
    valid: bool
    one_vs_one: Attribution | None = None
    compared: Attribution | None = None
    faith: Faithfulness | None = None
    compared_faith: Faithfulness | None = None


@dataclass(frozen=True)
class Contrasts:
    """One unit's rows: those explained (valid counterfactual or not) and those with non-finite scores."""

    entries: tuple[Contrast, ...]
    skipped: tuple[int, ...]


def settings_of(config: AuditConfig) -> OneVsOneSettings:
    return config.checks.one_vs_one or OFF


def unmet(ctx: Context, settings: OneVsOneSettings) -> str | None:
    lacks = build_lacks(
        "auditor.explain.counterfactuals", "the counterfactual search (auditor.explain.counterfactuals)"
    )
    if lacks is None and ctx.data is None:
        return "no inputs to explain: give data ([data] path / --data)"
    if lacks is None and ctx.blackbox.n_classes < 2:
        return "one-vs-one maps need a model of at least two classes"
    return lacks


def plan(ctx: Context, settings: OneVsOneSettings, seed: int) -> list[Slice]:
    return chunks(pick_rows(ctx, settings.samples, seed, "one-vs-one-rows"), ROWS_PER_UNIT)


def estimate(ctx: Context, settings: OneVsOneSettings, slices: list[Slice]) -> Work:
    """The work of the counterfactuals check's searches (they spend their budget, in the space that check
    searches, after the generator's inversions when there is no encoder: `inversion_work`); then, for
    every row, two occlusion maps and two sets of deletion curves (all rows' counterfactuals valid)."""
    view = Features(ctx.blackbox.input_shape, ctx.blackbox.layout)
    windows = window_count(view, settings.window, settings.stride)
    rounds = [len(items) for _, items in slices]
    rows = sum(rounds)
    searches = search_work(
        rounds,
        search_budget(ctx, settings.budget),
        settings.method,
        search_dim(ctx),
        ctx.generator is not None,
        rows,
    )
    searches = add_work(searches, inversion_work(ctx, rows, settings.method))
    curves = 2 * (settings.orders + 1) * (settings.steps + 1)
    per_row = [windows + 2] * 2 + [curves] * 2
    return add_work(searches, Work(rows * sum(per_row), rows * calls_for(per_row, ctx.blackbox.batch_size)))


def reduce(ctx: Context, settings: OneVsOneSettings, share: float, why: str) -> Reduced[OneVsOneSettings]:
    return scale(replace(settings, budget=search_budget(ctx, settings.budget)), LEAST, share, why)


def compared_baseline(ctx: Context, settings: OneVsOneSettings) -> str:
    """The one-vs-all map's fill: as set, else blur for images, the reference mean for tables (zero without)."""
    if settings.baseline != "auto":
        return settings.baseline
    return "blur" if ctx.is_image else "zero" if ctx.reference is None else "mean"


def run(ctx: Context, settings: OneVsOneSettings, unit: Unit) -> Contrasts:
    from auditor.explain.counterfactuals import (  # optional in a build: see unmet()
        CounterfactualParams,
        counterfactuals,
    )

    assert ctx.data is not None  # unmet() said so
    blackbox, reference = ctx.blackbox, ctx.reference
    x = ctx.data.x[list(unit.items)]
    labels = blackbox.predict_labels(x)  # -1: NaN or infinite scores, nothing to explain
    kept = np.flatnonzero(labels >= 0)
    skipped = tuple(unit.items[i] for i in np.flatnonzero(labels < 0))
    if not kept.size:
        return Contrasts((), skipped)
    rng = np.random.default_rng(unit.seed)
    results = counterfactuals(
        blackbox,
        x[kept],
        "second",
        generator=ctx.generator,
        encoder=ctx.encoder,
        reference=reference,
        params=CounterfactualParams(method=settings.method, budget=search_budget(ctx, settings.budget)),
        rng=int(rng.integers(2**31)),
    )
    entries = {
        int(i): Contrast(
            row=unit.items[i],
            x=x[i],
            counterfactual=result.counterfactuals[0],
            source=result.source,
            contrast=result.target,
            valid=bool(result.valid[0]),
        )
        for i, result in zip(kept, results)
    }
    fill = compared_baseline(ctx, settings)
    curves_seed = int(rng.integers(2**31))
    valid = [i for i, entry in entries.items() if entry.valid]
    for contrast in sorted({entries[i].contrast for i in valid}):
        rows = [i for i in valid if entries[i].contrast == contrast]  # one batched stream per runner-up
        targets = [entries[i].source for i in rows]
        counterfactual = np.stack([entries[i].counterfactual for i in rows])
        ours = one_vs_one(
            blackbox,
            x[rows],
            counterfactual,
            contrast=contrast,
            target=targets,
            window=settings.window,
            stride=settings.stride,
        )
        theirs = occlusion(
            blackbox,
            x[rows],
            target=targets,
            contrast=contrast,
            score="log_ratio",
            baseline=fill,
            reference=reference,
            window=settings.window,
            stride=settings.stride,
        )
        assert isinstance(ours, Attributions) and isinstance(theirs, Attributions)  # x[rows] is a batch
        for i, mine, other in zip(rows, ours, theirs):
            entry = entries[i]
            mine_faith, other_faith = (
                faithfulness(
                    blackbox,
                    entry.x,
                    heat.map,
                    target=entry.source,
                    baseline=entry.counterfactual,
                    steps=settings.steps,
                    orders=settings.orders,
                    score="log_ratio",
                    contrast=contrast,
                    rng=curves_seed,  # the same random orders for both maps
                )
                for heat in (mine, other)
            )
            entries[i] = replace(
                entry, one_vs_one=mine, compared=other, faith=mine_faith, compared_faith=other_faith
            )
    return Contrasts(tuple(entries[i] for i in sorted(entries)), skipped)


def deletion_share(faith: Faithfulness, area: float) -> float | None:
    """A deletion area as a share of the curve's own gap s(x) − s(counterfactual); None without a gap."""
    start, end = float(faith.deletion[0]), float(faith.deletion[-1])
    return (area - end) / (start - end) if start > end else None


def merge(ctx: Context, settings: OneVsOneSettings, parts: list[Contrasts]) -> Outcome:
    entries = [entry for part in parts for entry in part.entries]
    explained = [e for e in entries if e.faith is not None]
    rows: list[dict[str, Any]] = []
    for entry in entries:
        listed: dict[str, Any] = {
            "index": entry.row,
            "source": entry.source,
            "source_name": ctx.class_name(entry.source),
            "contrast": entry.contrast,
            "contrast_name": ctx.class_name(entry.contrast),
            "valid_counterfactual": entry.valid,
        }
        if entry.faith is not None and entry.compared_faith is not None:
            assert entry.one_vs_one is not None and entry.compared is not None
            ours = deletion_share(entry.faith, entry.faith.deletion_auc)
            theirs = deletion_share(entry.compared_faith, entry.compared_faith.deletion_auc)
            listed.update(
                gap=entry.one_vs_one.extra["gap"],
                total=entry.one_vs_one.total,
                deletion_auc=ours,
                compared_deletion_auc=theirs,
                random_deletion_auc=deletion_share(entry.faith, entry.faith.random_deletion_auc),
                better=ours is not None and theirs is not None and ours < theirs,
                queries=int(
                    entry.one_vs_one.queries
                    + entry.compared.queries
                    + entry.faith.queries
                    + entry.compared_faith.queries
                ),
            )
        rows.append(listed)
    judged = [
        r for r in rows if r.get("deletion_auc") is not None and r.get("compared_deletion_auc") is not None
    ]
    median = float(np.median([r["deletion_auc"] for r in judged])) if judged else None
    compared = float(np.median([r["compared_deletion_auc"] for r in judged])) if judged else None
    random = float(np.median([r["random_deletion_auc"] for r in judged])) if judged else None
    better = float(np.mean([r["better"] for r in judged])) if judged else None
    tests = criteria(
        ("one-vs-one deletion AUC", median, "<=", settings.max_deletion_auc),
        ("better than the compared map", better, ">=", settings.min_better_share),
    )
    fill = compared_baseline(ctx, settings)
    details: dict[str, Any] = {
        "explainer": "occlusion",
        "score": "log_ratio",
        "compared_baseline": fill,
        "rows": len(entries),
        "valid_counterfactuals": sum(e.valid for e in entries),
        "judged_rows": len(judged),
        "median_deletion_auc": median,
        "median_compared_deletion_auc": compared,
        "median_random_deletion_auc": random,
        "better_share": better,
        "no_counterfactual_rows": [e.row for e in entries if not e.valid][:NAMED_ROWS],
        "maps": rows,
        **nonfinite_facts([row for part in parts for row in part.skipped], "these inputs were not explained"),
    }
    figures: tuple[Figure, ...] = ()
    drawn = explained[:EXAMPLES] if ctx.is_image else []
    if drawn:
        tiles = [
            tile
            for e in drawn
            for tile in (
                ctx.display.tile(e.x),
                ctx.display.tile(e.counterfactual),
                ctx.display.heat_tile(e.x, e.one_vs_one.map),  # type: ignore[union-attr]  # explained
                ctx.display.heat_tile(e.x, e.compared.map),  # type: ignore[union-attr]
            )
        ]
        caption = f"Input, counterfactual, one-vs-one map, {fill}-baseline map: " + "; ".join(
            f"row {e.row}: {ctx.class_name(e.source)} rather than {ctx.class_name(e.contrast)}" for e in drawn
        )
        figures = (Figure("one-vs-one-maps", caption, grid_png(tiles, 4)),)
    derived = {"budget": search_budget(ctx, settings.budget), "compared_baseline": fill}
    return Outcome(median, "one-vs-one deletion AUC", "lower", tests, details, figures, derived)


ONE_VS_ONE = Check(
    "one_vs_one",
    "One-vs-one maps against counterfactual baselines",
    settings=settings_of,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
    estimate=estimate,
    reduce=reduce,
    opt_in=True,
)
