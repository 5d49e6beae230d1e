"""The inputs a check works on: data rows spread over the classes, a unit's rows (data or generated), and
the classes a per-class check covers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import Unit
from auditor.audit.config import Classes, resolved_classes
from auditor.audit.seeds import unit_seed

#: "auto" covers every class of a model with at most this many classes; beyond, in this order: the classes
#: of the CONFUSED_PAIRS most confused (true, predicted) pairs, the classes present in the data (most rows
#: first), and a seeded sample of SAMPLED_CLASSES of the others.
AUTO_CLASSES = 32
CONFUSED_PAIRS = 8
SAMPLED_CLASSES = 8


def pick_rows(ctx: Context, n: int, seed: int, tag: str, classes: Sequence[int] | None = None) -> list[int]:
    """n data rows spread over the classes: round robin over the labels after a seeded shuffle; with
    `classes`, only rows of those classes (labels, else the model's predictions)."""
    assert ctx.data is not None  # the caller's unmet() said so
    order = np.random.default_rng(unit_seed(seed, tag, 0)).permutation(len(ctx.data))
    if classes is not None:
        labels = ctx.data.y if ctx.data.y is not None else ctx.predicted_labels
        order = order[np.isin(labels[order], np.asarray(classes, dtype=np.int64))]
    if ctx.data.y is None:
        return [int(i) for i in order[:n]]
    y = ctx.data.y[order]
    rank = np.zeros(len(order), dtype=np.int64)
    for c in np.unique(y):
        rank[y == c] = np.arange(int((y == c).sum()))
    return [int(i) for i in order[np.lexsort((y, rank))][:n]]


def unit_rows(ctx: Context, unit: Unit, rng: np.random.Generator) -> np.ndarray:
    """The unit's data rows, or (without data) as many rows generated from prior samples drawn with `rng`."""
    if ctx.data is not None:
        return ctx.data.x[list(unit.items)]
    assert ctx.generator is not None
    z = ctx.generator.sample_prior(len(unit.items), rng)
    return ctx.blackbox.prepare(ctx.generator.generate(z))


def no_inputs(ctx: Context, purpose: str) -> str | None:
    """Why a check that needs data rows or a generator cannot run (`purpose`: 'to perturb', ...), else None."""
    if ctx.data is None and ctx.generator is None:
        return f"no inputs {purpose}: give data ([data] / --data) or a generator"
    return None


def covered_classes(ctx: Context, choice: Classes) -> tuple[int, ...]:
    """The classes a per-class check covers, most important first: a list as given, "all", or "auto"
    (every class up to AUTO_CLASSES; beyond, confused pairs, classes in the data, a seeded sample)."""
    k = ctx.blackbox.n_classes
    chosen = resolved_classes(choice)
    if isinstance(chosen, tuple):
        return chosen
    if chosen == "all" or k <= AUTO_CLASSES:
        return tuple(range(k))
    order: list[int] = []
    if ctx.data is not None:
        predicted = ctx.predicted_labels
        truth = ctx.data.y
        if truth is not None:
            wrong = (predicted >= 0) & (predicted != truth)
            pairs, counts = np.unique(
                np.stack([truth[wrong], predicted[wrong]], axis=1), axis=0, return_counts=True
            )
            for index in np.argsort(-counts, kind="stable")[:CONFUSED_PAIRS]:
                order += [int(c) for c in pairs[index]]
        present = truth if truth is not None else predicted[predicted >= 0]
        rows = np.bincount(present, minlength=k)
        order += [int(c) for c in np.argsort(-rows, kind="stable") if rows[c] > 0]
    kept = list(dict.fromkeys(order))
    rest = np.setdiff1d(np.arange(k), kept)
    rng = np.random.default_rng(unit_seed(ctx.config.run.seed, "classes", 0))
    sample = rng.choice(rest, size=min(SAMPLED_CLASSES, len(rest)), replace=False) if len(rest) else rest
    return tuple(kept + sorted(int(c) for c in sample))


def classes_text(ctx: Context, choice: Classes) -> str:
    """How the covered classes were chosen, for the plan and the report."""
    k = ctx.blackbox.n_classes
    if isinstance(choice, tuple):
        return "the classes listed in the config"
    if choice == "all" or k <= AUTO_CLASSES:
        return f"all {k} classes"
    return (
        f"auto ({k} classes > {AUTO_CLASSES}): the {CONFUSED_PAIRS} most confused pairs, the classes present in "
        f"the data, and a seeded sample of {SAMPLED_CLASSES} others"
    )
