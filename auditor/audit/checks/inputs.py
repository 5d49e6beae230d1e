"""The inputs a check works on: data rows spread over the classes, or a unit's rows (data or generated)."""

from __future__ import annotations

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import Unit
from auditor.audit.seeds import unit_seed


def pick_rows(ctx: Context, n: int, seed: int, tag: str) -> list[int]:
    """n data rows spread over the classes: round robin over the labels after a seeded shuffle."""
    assert ctx.data is not None  # the caller's unmet() said so
    order = np.random.default_rng(unit_seed(seed, tag, 0)).permutation(len(ctx.data))
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
