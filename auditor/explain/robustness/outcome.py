"""What a search leaves per input: the closest flipped point found, its radius and label, and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.explain.robustness.box import norms


@dataclass(eq=False)
class Outcome:
    """Per input: `best` flipped point (the input itself until one is found), its radius (inf: none), label,
    stop, and `tried`: the largest radius searched without finding a flip (a lower bound on the radius as far
    as the search could tell; 0 when none)."""

    best: np.ndarray
    radius: np.ndarray
    label: np.ndarray
    stop: np.ndarray
    tried: np.ndarray

    @classmethod
    def empty(cls, x0: np.ndarray) -> Outcome:
        n = len(x0)
        return cls(
            x0.copy(),
            np.full(n, np.inf),
            np.full(n, -1, dtype=np.int64),
            np.full(n, "not_found", dtype=object),
            np.zeros(n),
        )

    def offer(
        self, inputs: np.ndarray, points: np.ndarray, labels: np.ndarray, x0: np.ndarray, norm: str
    ) -> np.ndarray:
        """Keep each flipped point that is closer than the input's best so far; returns the radii of `points`."""
        radius = norms(points - x0[inputs], norm)
        better = radius < self.radius[inputs]
        keep = inputs[better]
        self.best[keep] = points[better]
        self.radius[keep] = radius[better]
        self.label[keep] = labels[better]
        self.stop[keep] = "budget"
        return radius
