"""The result of a robustness search: per-input radii, the accuracy-against-ε curve, medians per class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class InputRadius:
    """One input: its predicted class, the class the smallest perturbation found flips it to, that radius.

    Not found: `lower_bound` is the largest radius the search tried without a flip (its radius is at least
    that, as far as the budget could tell; 0 when none was tried); None for found inputs."""

    index: int
    source: int
    flipped_to: int | None
    radius: float | None
    found: bool
    queries: int
    stop_reason: str
    lower_bound: float | None = None

    def to_dict(self, class_names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "source_name": class_names[self.source] if self.source >= 0 else None,
            "flipped_to": self.flipped_to,
            "flipped_to_name": class_names[self.flipped_to] if self.flipped_to is not None else None,
            "radius": self.radius,
            "found": self.found,
            "queries": self.queries,
            "stop_reason": self.stop_reason,
            "lower_bound": self.lower_bound,
        }


@dataclass(frozen=True, eq=False)
class RobustnessResult:
    """Smallest flipping perturbations of a batch of inputs (model layout), searched in lockstep.

    `perturbed[i]` is input i itself where nothing was found within the budget. `correct` says which inputs
    the model labels right (None without labels: every prediction then counts as right). Wall and ONNX
    Runtime seconds are kept here but left out of `to_dict`, which is reproducible bit for bit.
    """

    method: str
    norm: str
    seed: int | None
    budget: int
    labels_only: bool
    class_names: tuple[str, ...]
    inputs: tuple[InputRadius, ...]
    x: np.ndarray
    perturbed: np.ndarray
    correct: np.ndarray | None
    curve: tuple[tuple[float, float], ...]
    reference_queries: int
    seconds: float
    ort_seconds: float

    @property
    def queries(self) -> int:
        """Every row sent to the model: the inputs' own and search queries, and the reference rows'."""
        return sum(entry.queries for entry in self.inputs) + self.reference_queries

    @property
    def radii(self) -> np.ndarray:
        """Radius per input; inf where none was found."""
        return np.array([np.inf if e.radius is None else e.radius for e in self.inputs], dtype=np.float64)

    def median_radius(self) -> float | None:
        """Median over all inputs, those without a found radius counted as infinitely robust (None if it is)."""
        return _median(self.radii)

    def median_radius_at_least(self) -> tuple[float | None, bool]:
        """Median over all inputs, each not-found input counted at its lower bound: (value, censored); see
        `censored_median`."""
        return censored_median(self.radii, self.lower_bounds)

    @property
    def lower_bounds(self) -> np.ndarray:
        """Per input: the largest radius tried without a flip where none was found, else the radius."""
        return np.array(
            [e.radius if e.lower_bound is None else e.lower_bound for e in self.inputs], dtype=np.float64
        )

    def median_radius_per_class(self) -> dict[str, float | None]:
        """Median radius per predicted class, as `median_radius` does it."""
        sources = np.array([e.source for e in self.inputs])
        radii = self.radii
        return {
            self.class_names[k]: _median(radii[sources == k]) for k in sorted(set(sources.tolist())) if k >= 0
        }

    def to_dict(self) -> dict[str, Any]:
        """The robustness.json document (CLI.md): norm, seed, queries, inputs, curve, and the summary figures."""
        found = [e for e in self.inputs if e.found]
        at_least, censored = self.median_radius_at_least()
        return {
            "method": self.method,
            "norm": self.norm,
            "seed": self.seed,
            "budget": self.budget,
            "labels_only": self.labels_only,
            "queries": self.queries,
            "reference_queries": self.reference_queries,
            "found": len(found),
            "median_radius": self.median_radius(),
            "median_radius_at_least": at_least,
            "median_radius_censored": censored,
            "median_radius_per_class": self.median_radius_per_class(),
            "inputs": [e.to_dict(self.class_names) for e in self.inputs],
            "curve": [[eps, accuracy] for eps, accuracy in self.curve],
        }


def accuracy_curve(radii: np.ndarray, correct: np.ndarray, points: int) -> tuple[tuple[float, float], ...]:
    """Share of inputs still labelled right at ε: correct and no flip found within ε (radius > ε), on `points`
    ε from 0 to the largest radius found. Inputs without a found radius count as right at every ε."""
    finite = radii[np.isfinite(radii)]
    top = float(finite.max()) if finite.size else 0.0
    grid = np.linspace(0.0, top, points) if top > 0 else np.zeros(1)
    if not len(radii):
        return tuple((float(eps), 0.0) for eps in grid)
    robust = correct[None, :] & (radii[None, :] > grid[:, None])
    robust[0] = correct
    return tuple((float(eps), float(share)) for eps, share in zip(grid, robust.mean(axis=1)))


def censored_median(radii: np.ndarray, bounds: np.ndarray) -> tuple[float | None, bool]:
    """Median radius with each not-found input (radius inf) counted at its lower bound (`bounds`, the largest
    radius tried without a flip): (value, censored). The true median is at least `value`; `censored` says a
    not-found input's bound is at or below it, so that `value` is only that lower bound, not the median
    itself. (None, False) without inputs."""
    if not radii.size:
        return None, False
    found = np.isfinite(radii)
    values = np.where(found, radii, bounds)
    value = float(np.median(values))
    return value, bool((~found & (values <= value)).any())


def _median(values: np.ndarray) -> float | None:
    if not values.size:
        return None
    value = float(np.median(values))
    return value if np.isfinite(value) else None
