"""The bisection on ε that the score-based searches share: grow until a flip, shrink, bisect, converge."""

from __future__ import annotations

import numpy as np

from auditor.explain.robustness.box import Box
from auditor.explain.robustness.outcome import Outcome
from auditor.explain.robustness.params import RobustnessParams

SHRINK = 0.7  # next ε after a flip while no ε has failed yet
GROW = 2.0  # next ε after a failure while none has flipped yet
START_SHARE = 0.25  # first ε: this share of the box's diameter in the norm


def first_radius(box: Box, params: RobustnessParams) -> tuple[float, float]:
    """(first ε, largest ε): `start_radius` or a share of the box's diameter, and the diameter."""
    cap = box.diameter(params.norm)
    first = params.start_radius or (START_SHARE * cap if np.isfinite(cap) else 1.0)
    return min(first, cap), cap


def next_radius(
    inputs: np.ndarray,
    eps: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    cap: float,
    tolerance: float,
    done: np.ndarray,
    outcome: Outcome,
) -> None:
    """Bisect between the largest failed ε (lo) and the smallest flipping radius (hi); stop inputs within
    tolerance. With no flip yet ε grows (up to cap); with no failure yet it shrinks."""
    known = np.isfinite(hi[inputs])
    bracket = (lo[inputs] + hi[inputs]) / 2
    eps[inputs] = np.where(
        known, np.where(lo[inputs] > 0, bracket, hi[inputs] * SHRINK), np.minimum(eps[inputs] * GROW, cap)
    )
    converged = inputs[known & (hi[inputs] - lo[inputs] <= tolerance * hi[inputs])]
    done[converged] = True
    outcome.stop[converged] = "converged"
