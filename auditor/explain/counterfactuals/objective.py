"""The objective every search ranks by: feasibility first, then proximity (one `Task` per search).

Valid rows score log(proximity); invalid rows OFFSET + hinge + λ·proximity, where hinge =
max(0, κ − (log p_t − max_{j≠t} log p_j)) and λ halves after every generation with no valid row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from auditor.explain.counterfactuals.measures import margin, reached
from auditor.search import StopReason

OFFSET = 1e6  # invalid rows rank after every valid one


@dataclass(frozen=True)
class Scoring:
    """What every task of one call measures distance with (l1 or l2) and asks of a valid row (κ, τ)."""

    distance: str
    kappa: float
    tau: float


class Scored(NamedTuple):
    """Per-row figures of one task's rows. `loss` ranks the search: log(proximity) if valid, else
    OFFSET + shortfall + λ·proximity; `score` ranks rows for keeping: proximity if valid, else
    OFFSET + shortfall; `margin` is log p_target − max_{j≠target} log p_j."""

    loss: np.ndarray
    valid: np.ndarray
    score: np.ndarray
    margin: np.ndarray


class Task:
    """One search: an input, its target, the counterfactuals to keep apart from, and the best row so far."""

    def __init__(
        self,
        index: int,
        x: np.ndarray,
        source: int,
        target: int,
        scoring: Scoring,
        scale: np.ndarray,
        apart: list[np.ndarray],
        gap: float,
    ) -> None:
        self.index = index
        self.x = x
        self.source = source
        self.target = target
        self.scoring = scoring
        self.scale = scale
        self.apart = np.array(apart) if apart else np.empty((0, x.size))
        self.gap = gap
        self.lam = 1.0  # weight of proximity among invalid rows; halves while a search finds none valid
        self.z0: np.ndarray | None = None
        self.g0: np.ndarray | None = None
        self.best_x = x.copy()
        self.best_p: np.ndarray | None = None
        self.best_z: np.ndarray | None = None
        self.best_valid = False
        self.best_score = np.inf
        self.search_best: np.ndarray | None = None  # the search's own best valid row (no L0 term ranks it)
        self.probe_order = np.empty(0, dtype=np.int64)  # units, most promising single-unit probe first
        self.probe_sign: dict[int, float] = {}
        self.stop_reason: StopReason = "budget"

    def generation_done(self, any_valid: bool) -> None:
        if not any_valid:
            self.lam *= 0.5

    def evaluate(self, rows: np.ndarray, probs: np.ndarray, prox: np.ndarray) -> Scored:
        """Loss, validity, score and log-margin of each row (see `Scored`)."""
        scoring = self.scoring
        finite = np.isfinite(probs).all(axis=1)
        safe = np.where(finite[:, None], probs, 1.0 / probs.shape[1])
        log_margin = margin(safe, self.target, self.source)
        shortfall = np.maximum(0.0, scoring.kappa - log_margin)
        if scoring.tau > 0:
            p_aim = safe[np.arange(len(safe)), reached(safe, self.target, self.source)]
            shortfall += np.maximum(0.0, math.log(scoring.tau) - np.log(np.maximum(p_aim, 1e-30)))
        if len(self.apart) and self.gap > 0:
            gaps = np.sqrt((((rows[:, None, :] - self.apart[None]) / self.scale) ** 2).mean(axis=2))
            shortfall += np.maximum(0.0, self.gap - gaps).sum(axis=1) / self.gap
        valid = finite & (shortfall <= 0) & (log_margin > 0)
        # log makes the stop rule's absolute min_delta a relative one on proximity
        loss = np.where(valid, np.log(prox + 1e-12), OFFSET + shortfall + self.lam * prox)
        score = np.where(valid, prox, OFFSET + shortfall)
        return Scored(np.where(finite, loss, np.inf), valid, np.where(finite, score, np.inf), log_margin)

    def offer(
        self, rows: np.ndarray, probs: np.ndarray, valid: np.ndarray, score: np.ndarray, z: np.ndarray | None
    ) -> None:
        """Keep the best of these rows if it beats the best so far (valid first, then closest)."""
        if not len(rows):
            return
        best = int(np.argmin(score))
        if score[best] < self.best_score:
            self.best_score = float(score[best])
            self.best_x = rows[best].copy()
            self.best_p = np.asarray(probs[best], dtype=np.float64).copy()
            self.best_valid = bool(valid[best])
            if z is not None:
                self.best_z = np.asarray(z[best], dtype=np.float64).copy()


def new_task(
    index: int,
    x: np.ndarray,
    earlier: list[Task],
    source: int,
    target: int,
    scoring: Scoring,
    scale: np.ndarray,
    diversity: float,
) -> Task:
    """The next search for input `index`, kept `diversity` x (first counterfactual's distance) from earlier ones."""
    previous = [task.best_x for task in earlier]
    gap = diversity * float(np.sqrt((((earlier[0].best_x - x) / scale) ** 2).mean())) if earlier else 0.0
    return Task(index, x, source, target, scoring, scale, previous, gap)


def scaled_distance(rows: np.ndarray, x: np.ndarray, scale: np.ndarray, kind: str) -> np.ndarray:
    """Mean |Δ|/scale (l1) or RMS of Δ/scale (l2) per row."""
    delta = np.subtract(rows, x, dtype=np.float64)  # one working array: rows of 150,000 values are common
    delta /= scale
    if kind == "l2":
        return np.sqrt(np.square(delta, out=delta).mean(axis=1))
    return np.abs(delta, out=delta).mean(axis=1)
