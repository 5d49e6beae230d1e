"""What an input-space counterfactual may change: the feature constraints, the data's box and scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.counterfactuals.measures import change_tolerance, data_box, feature_scale, flat
from auditor.value_sets import ValueSet


@dataclass(frozen=True)
class FeatureConstraints:
    """What an input-space counterfactual may change: indices into the flattened sample.

    `categorical` entries are either one column holding category codes (snapped to the codes seen
    in the reference data) or a tuple of one-hot columns (exactly one set to 1).
    """

    immutable: tuple[int, ...] = ()
    integer: tuple[int, ...] = ()
    categorical: tuple[int | tuple[int, ...], ...] = ()


class Domain:
    """Scale, box and feature constraints of the flattened input, and the projection onto them.

    `value_set`: the input's value set; a discrete one (ids, bytes) keeps every element an integer within it.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        image: bool,
        reference: np.ndarray | None,
        constraints: FeatureConstraints,
        value_set: ValueSet | None = None,
    ) -> None:
        self.shape = shape
        self.value_set = value_set if value_set is not None and value_set.discrete else None
        self.size = int(np.prod(shape))
        self.image = image
        if reference is not None:
            ref = flat(reference)
            if ref.shape[1] != self.size:
                raise DataError(f"reference rows have {ref.shape[1]} values, the model takes {self.size}")
            self.scale = feature_scale(ref, per_feature=not image)
            self.box = data_box(ref, per_feature=not image)
        else:
            ref = None
            self.scale = np.ones(self.size)
            self.box = (np.full(self.size, -np.inf), np.full(self.size, np.inf))
        self.tolerance = change_tolerance(self.box, self.scale)
        self.immutable = self._indices(constraints.immutable, "immutable")
        self.integer = self._indices(constraints.integer, "integer")
        self.codes: list[tuple[int, np.ndarray]] = []
        self.onehot: list[np.ndarray] = []
        for entry in constraints.categorical:
            if isinstance(entry, int | np.integer):
                (column,) = self._indices((int(entry),), "categorical")
                values = np.unique(ref[:, column]) if ref is not None else np.empty(0)
                self.codes.append((int(column), values))
            else:
                block = self._indices(tuple(entry), "categorical")
                if len(block) < 2:
                    raise ArgumentError("a one-hot categorical block needs at least 2 columns")
                self.onehot.append(block)

    def _indices(self, values: Sequence[int], what: str) -> np.ndarray:
        index = np.asarray(values, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.size):
            raise ArgumentError(
                f"{what} feature indices must be in 0..{self.size - 1}, got {list(values)[:8]}"
            )
        return index

    def project(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Clip to the box, keep immutables, round integers, snap category codes, argmax one-hot blocks,
        and move discrete inputs onto their value set."""
        rows = np.clip(rows, *self.box)
        if self.value_set is not None:
            rows = self.value_set.project(rows)
        if self.immutable.size:
            rows[:, self.immutable] = x[self.immutable]
        if self.integer.size:
            lo, hi = np.ceil(self.box[0][self.integer]), np.floor(self.box[1][self.integer])
            rows[:, self.integer] = np.clip(np.round(rows[:, self.integer]), lo, hi)
        for column, values in self.codes:
            if values.size:
                nearest = np.abs(rows[:, column, None] - values[None, :]).argmin(axis=1)
                rows[:, column] = values[nearest]
            else:
                rows[:, column] = np.round(rows[:, column])
        for block in self.onehot:
            pick = rows[:, block].argmax(axis=1)
            rows[:, block] = 0.0
            rows[np.arange(len(rows)), block[pick]] = 1.0
        return rows
