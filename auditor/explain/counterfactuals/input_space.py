"""The input-space parameterisation: parameters in scale units, one per feature or image cell."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from auditor.explain.counterfactuals.domain import Domain
from auditor.explain.counterfactuals.objective import Task, scaled_distance

GRID_CELLS = 8  # default image parameterisation: about 8 x 8 cells per channel
# CMA-ES rows per generation in input space: half the generations (and cma's overhead) of 32
INPUT_POPSIZE = 64


class InputSpace:
    """Parameters u in scale units; feature f moves by u[param_of[f]]·scale[f] (grid cells for images).

    Proximity is the mean scaled distance plus `weight` per changed unit (a feature, a one-hot block
    or an image cell) over D: the L1 + λ₀·L0 objective of METHODS.md.
    """

    kind: Literal["input", "latent"] = "input"

    def __init__(self, domain: Domain, layout: str, cell: int | None, distance: str, weight: float) -> None:
        self.domain = domain
        self.distance = distance
        self.weight = weight
        size = domain.size
        param_of = cell_index(domain.shape, layout, cell) if domain.image else np.arange(size)
        frozen = np.zeros(size, dtype=bool)
        frozen[domain.immutable] = True
        used = np.unique(param_of[~frozen])
        remap = np.full(int(param_of.max()) + 1, -1)
        remap[used] = np.arange(used.size)
        self.param_of = np.where(frozen, -1, remap[param_of])
        self.dim = max(int(used.size), 1)
        unit_of = self.param_of.copy()
        for block in domain.onehot:
            unit_of[block] = unit_of[block[0]]
        ids = np.unique(unit_of[unit_of >= 0])
        self.units = [np.flatnonzero(unit_of == u) for u in ids]
        unit_index = np.full(int(unit_of.max()) + 2, -1)
        unit_index[ids] = np.arange(ids.size)
        # the unit each parameter moves (parameters of one one-hot block share a unit)
        self.unit_of_param = np.array(
            [unit_index[unit_of[np.argmax(self.param_of == p)]] for p in range(self.dim)]
        )
        self._order = np.concatenate(self.units) if self.units else np.empty(0, dtype=np.int64)
        self._starts = np.cumsum([0] + [len(u) for u in self.units[:-1]])

    def rows(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        padded = np.concatenate([u, np.zeros((len(u), 1))], axis=1)
        return self.domain.project(x + padded[:, self.param_of] * self.domain.scale, x)

    def decode(self, tasks: Sequence[Task], asks: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.rows(task.x, u) for task, u in zip(tasks, asks)]

    def popsize_for(self, method: str) -> int | None:
        return INPUT_POPSIZE if method == "cmaes" else None

    def start(self, task: Task) -> tuple[np.ndarray, float]:
        """Search start: the task's best row so far as parameters (cell means for images), and a step
        of a quarter of its largest parameter when that row is valid, else 1 (scale unit)."""
        delta = (task.best_x - task.x) / self.domain.scale
        mask = self.param_of >= 0
        sums = np.bincount(self.param_of[mask], weights=delta[mask], minlength=self.dim)
        counts = np.bincount(self.param_of[mask], minlength=self.dim)
        u0 = sums / np.maximum(counts, 1)
        if task.best_valid and np.abs(u0).max() > 0:
            return u0, float(np.abs(u0).max()) / 4
        return u0, 1.0

    def changed_units(self, x: np.ndarray, rows: np.ndarray, tolerance: bool = True) -> np.ndarray:
        """(n, units) True where a unit moved by more than its tolerance (at all, with tolerance=False)."""
        if not self.units:
            return np.zeros((len(rows), 0), dtype=bool)
        moved = np.abs(rows - x) > (self.domain.tolerance if tolerance else 0.0)
        return np.logical_or.reduceat(moved[:, self._order], self._starts, axis=1)

    def proximity(self, task: Task, rows: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        base = scaled_distance(rows, task.x, self.domain.scale, self.distance)
        if self.weight > 0:
            base = base + self.weight * self.changed_units(task.x, rows).sum(axis=1) / self.domain.size
        return base


def cell_index(shape: tuple[int, ...], layout: str, cell: int | None) -> np.ndarray:
    """Parameter index of each pixel: one per (channel, cell x cell block)."""
    if layout == "HW":
        channels, height, width = 1, shape[0], shape[1]
    elif layout == "NHWC":
        height, width, channels = shape
    else:
        channels, height, width = shape
    side = cell or max(1, math.ceil(min(height, width) / GRID_CELLS))
    rows, cols = -(-height // side), -(-width // side)
    block = (np.arange(height)[:, None] // side) * cols + (np.arange(width)[None, :] // side)
    index = np.arange(channels)[:, None, None] * (rows * cols) + block[None]
    if layout == "NHWC":
        index = index.transpose(1, 2, 0)
    return index.reshape(-1)
