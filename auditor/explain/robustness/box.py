"""Where a perturbed input may lie: the data's box, integer features, immutable features; and the norms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditor.errors import ArgumentError
from auditor.explain.counterfactuals.measures import data_box, flat


@dataclass(frozen=True, eq=False)
class Box:
    """Per-feature [lower, upper] of the flattened sample, integer features and features that must not move."""

    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    immutable: np.ndarray

    @classmethod
    def of(
        cls,
        size: int,
        reference: np.ndarray | None = None,
        *,
        bounds: tuple[float | np.ndarray, float | np.ndarray] | None = None,
        image: bool = False,
        integer: Sequence[int] = (),
        immutable: Sequence[int] = (),
    ) -> Box:
        """The box given as `bounds`, else the reference rows' [min, max] (one range for images), else unbounded."""
        if bounds is not None:
            lower = np.broadcast_to(np.asarray(bounds[0], dtype=np.float64), (size,))
            upper = np.broadcast_to(np.asarray(bounds[1], dtype=np.float64), (size,))
        elif reference is not None:
            ref = flat(reference)
            if ref.shape[1] != size:
                raise ArgumentError(f"reference rows have {ref.shape[1]} values, the model takes {size}")
            lower, upper = data_box(ref, per_feature=not image)
        else:
            lower, upper = np.full(size, -np.inf), np.full(size, np.inf)
        if not (lower <= upper).all():
            raise ArgumentError("the box's lower bounds must not exceed its upper bounds")
        return cls(
            lower.astype(np.float32),
            upper.astype(np.float32),
            _indices(integer, size, "integer"),
            _indices(immutable, size, "immutable"),
        )

    def project(self, rows: np.ndarray, x0: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Rows (m, D) float32 clipped into the box in place, integers rounded, immutables reset to their
        input's values (row j belongs to input owners[j] of x0)."""
        lower, upper = self.lower, self.upper
        if lower.size and (lower == lower[0]).all() and (upper == upper[0]).all():
            lower, upper = lower[0], upper[0]  # one range (images): a scalar clip is several times faster
        np.clip(rows, lower, upper, out=rows)
        if self.integer.size:
            lo, hi = np.ceil(self.lower[self.integer]), np.floor(self.upper[self.integer])
            rows[:, self.integer] = np.clip(np.round(rows[:, self.integer]), lo, hi)
        if self.immutable.size:
            rows[:, self.immutable] = x0[owners[:, None], self.immutable[None, :]]
        return rows

    def project_cells(self, values: np.ndarray, index: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Values bound for flat features `index` (same shape) projected like `project` does whole rows."""
        values = np.clip(values, self.lower[index], self.upper[index])
        if self.integer.size:
            rounded = np.clip(np.round(values), np.ceil(self.lower[index]), np.floor(self.upper[index]))
            values = np.where(np.isin(index, self.integer), rounded, values)
        if self.immutable.size:
            values = np.where(np.isin(index, self.immutable), origins, values)
        return values

    def diameter(self, norm: str) -> float:
        """Largest distance between two points of the box in the norm (inf when unbounded)."""
        width = (self.upper.astype(np.float64) - self.lower).clip(0)
        if self.immutable.size:
            width[self.immutable] = 0.0
        return float(width.max() if norm == "linf" else np.sqrt((width**2).sum()))

    def contains(self, rows: np.ndarray) -> bool:
        return bool(((rows >= self.lower) & (rows <= self.upper)).all())


def norms(delta: np.ndarray, norm: str) -> np.ndarray:
    """Row norms (L∞ or L2) of (m, D) differences, in float64."""
    if norm == "linf":
        return np.abs(delta).max(axis=1).astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", delta, delta, dtype=np.float64))


def _indices(values: Sequence[int], size: int, what: str) -> np.ndarray:
    index = np.unique(np.asarray(values, dtype=np.int64).reshape(-1))
    if index.size and (index.min() < 0 or index.max() >= size):
        raise ArgumentError(f"{what} feature indices must be in 0..{size - 1}, got {list(values)[:8]}")
    return index
