"""Which class each input's counterfactual aims at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from auditor.errors import ArgumentError

NamedTarget = Literal["second", "any"]
NAMED_TARGETS: tuple[NamedTarget, ...] = get_args(NamedTarget)
Target = int | NamedTarget | Sequence[int] | np.ndarray
"""A class index, "second" (each input's runner-up), "any" (any class but the predicted one), or one
class per row."""


def resolve_targets(target: Target, probs: np.ndarray, n_classes: int) -> np.ndarray:
    """One class per row (−1 for "any")."""
    rows = len(probs)
    if isinstance(target, str):
        if target == "second":
            if n_classes < 2:
                raise ArgumentError("target 'second' needs a model with at least 2 classes")
            return np.argsort(-probs, axis=1, kind="stable")[:, 1]
        if target == "any":
            return np.full(rows, -1)
        raise ArgumentError(f"unknown target {target!r}; use a class index, 'second' or 'any'")
    values = np.asarray(target)
    if values.dtype.kind not in "iu" or values.ndim > 1:
        raise ArgumentError(
            f"target must be a class index, 'second', 'any' or one index per row, got {target!r}"
        )
    values = np.broadcast_to(values, (rows,)) if values.ndim == 0 else values
    if len(values) != rows:
        raise ArgumentError(f"{len(values)} targets given for {rows} rows")
    if (values < 0).any() or (values >= n_classes).any():
        raise ArgumentError(f"target classes must be in 0..{n_classes - 1}")
    return values.astype(np.int64)
