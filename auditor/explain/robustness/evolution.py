"""Score-based minimal perturbation by our zero-order searches: momentum ES or CMA-ES on the margin loss.

At a fixed radius ε each input runs its own search (`auditor.search`, built by name through the registry)
over z, the perturbation in units of ε: L∞ δ = ε·z with z in [−1, 1] ∩ the box; L2 δ = ε·z/max(1, ‖z‖) with
z in the box. The loss is the margin log p_source − max other log p; a row that changes the label is a flip,
and its distance (measured on the projected point) a radius found. Around it the bisection on ε that Square
uses (`schedule`): a stage ends at a flip or after `stage_queries` queries; the next stage's search starts
from the previous one's closest flip, else its lowest-loss z (δ rescaled with ε). Every input's rows of one generation go in
one model call, all inputs in lockstep; each input draws from its own Generator (spawned from the seed).
"""

from __future__ import annotations

import numpy as np

from auditor.explain.robustness.box import Box
from auditor.explain.robustness.oracle import Oracle
from auditor.explain.robustness.outcome import Outcome
from auditor.explain.robustness.params import RobustnessParams
from auditor.explain.robustness.schedule import first_radius, next_radius
from auditor.search import Evaluation, Search, make_search

SIGMA = {"linf": 0.3, "l2": 0.3}  # first step size, in units of ε (L2: per √D, so that ‖step‖ ≈ SIGMA·ε)
PINNED = 1e-9  # width given to features the box pins (cma needs lower < upper)


def evolution_search(
    oracle: Oracle,
    x0: np.ndarray,
    box: Box,
    params: RobustnessParams,
    rng: np.random.Generator,
    method: str,
) -> Outcome:
    """Each input's smallest flipping radius found by `method` ("momentum_es" or "cmaes") within its budget."""
    n, dim = x0.shape
    norm = params.norm
    population = params.rows_per_call(method)
    first, cap = first_radius(box, params)
    eps = np.full(n, first, dtype=np.float64)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    stage = np.zeros(n, dtype=np.int64)
    outcome = Outcome.empty(x0)
    done = np.full(n, not cap > 0)
    generators = rng.spawn(n)
    start = np.zeros((n, dim))  # each input's z to start its next stage from
    best_loss = np.full(n, np.inf)
    searches: list[Search | None] = [None] * n
    while True:
        remaining = oracle.remaining()
        inputs = np.flatnonzero(~done & (remaining > 0))
        if not inputs.size:
            break
        running = []
        for i in inputs:
            search = searches[i] or _search(
                method,
                generators[i],
                start[i],
                population,
                norm,
                _z_bounds(box, x0, np.array([i]), eps, norm),
            )
            searches[i] = search
            running.append(search)
        asked = [search.ask() for search in running]
        count = np.minimum([len(a) for a in asked], remaining[inputs])
        owners = np.repeat(inputs, count)
        z = np.concatenate([a[:c] for a, c in zip(asked, count)])
        if norm == "l2":  # onto the unit ball first: the loss is flat outside it, where steps would shrink
            z /= np.maximum(1.0, np.sqrt(np.einsum("ij,ij->i", z, z)))[:, None]
        z = np.clip(z, *_z_bounds(box, x0, owners, eps, norm))  # cma's bound transform ends within 1e-9
        points = _points(box, x0, owners, z, eps, norm)
        margins, labels = oracle.query(points, owners)
        offsets = np.r_[0, np.cumsum(count)]
        for j, (i, search) in enumerate(zip(inputs, running)):
            loss = np.full(len(asked[j]), np.inf)
            loss[: count[j]] = margins[offsets[j] : offsets[j + 1]]
            told = asked[j].copy()
            told[: count[j]] = z[offsets[j] : offsets[j + 1]]  # the clipped rows: what was evaluated
            search.tell(told, Evaluation(loss, loss < 0))
            lowest = int(np.argmin(loss))
            if loss[lowest] < best_loss[i]:
                best_loss[i], start[i] = loss[lowest], told[lowest]
        stage[inputs] += count
        flipped = (labels >= 0) & (labels != oracle.sources[owners])
        moved = np.zeros(n, dtype=bool)
        if flipped.any():
            rows = np.flatnonzero(flipped)
            radius = outcome.offer(owners[rows], points[rows], labels[rows], x0, norm)
            order = np.lexsort((radius, owners[rows]))  # by input, closest flip first
            heads = order[np.r_[True, owners[rows][order][1:] != owners[rows][order][:-1]]]
            hit = owners[rows][heads]
            hi[hit] = np.minimum(hi[hit], radius[heads])
            start[hit] = z[rows[heads]]  # the next stage starts from the closest flip of this one
            next_radius(hit, eps, lo, hi, cap, params.tolerance, done, outcome)
            moved[hit] = True
        stalled = inputs[(stage[inputs] >= params.stage_budget(method)) & ~moved[inputs]]
        if stalled.size:
            lo[stalled] = np.maximum(lo[stalled], eps[stalled])
            next_radius(stalled, eps, lo, hi, cap, params.tolerance, done, outcome)
            moved[stalled] = True
        for i in np.flatnonzero(moved):
            searches[i] = None
        stage[moved], best_loss[moved] = 0, np.inf
    outcome.tried[:] = lo
    return outcome


def _search(
    method: str,
    rng: np.random.Generator,
    start: np.ndarray,
    population: int,
    norm: str,
    bounds: tuple[np.ndarray, np.ndarray],
) -> Search:
    """A fresh search around `start` (units of ε) within `bounds`, `population` rows per generation."""
    dim = len(start)
    sigma = float(SIGMA[norm] if norm == "linf" else SIGMA[norm] / np.sqrt(dim))
    lower, upper = bounds[0][0], bounds[1][0]
    upper = np.maximum(upper, lower + PINNED)  # cma needs lower < upper: pinned features get a sliver
    x0 = np.clip(start, lower, upper)
    if method == "momentum_es":  # elites × 2 children per generation, and a first population as large
        rows = max(population - population % 2, 2)
        return make_search(
            method, dim, rng, popsize=rows, x0=x0, sigma=sigma, bounds=(lower, upper), init_size=rows
        )
    return make_search(
        method, dim, rng, popsize=max(population, 2), x0=x0, sigma=sigma, bounds=(lower, upper)
    )


def _z_bounds(
    box: Box, x0: np.ndarray, owners: np.ndarray, eps: np.ndarray, norm: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the box around its input in units of its ε (L∞: within [−1, 1]; immutables pinned at 0)."""
    scale = eps[owners, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = (box.lower[None, :] - x0[owners]) / scale
        upper = (box.upper[None, :] - x0[owners]) / scale
    if norm == "linf":
        lower, upper = np.maximum(lower, -1.0), np.minimum(upper, 1.0)
    lower, upper = (
        np.minimum(np.nan_to_num(lower, nan=0.0), 0.0),
        np.maximum(np.nan_to_num(upper, nan=0.0), 0.0),
    )
    if box.immutable.size:
        lower[:, box.immutable] = upper[:, box.immutable] = 0.0
    return lower, upper


def _points(
    box: Box, x0: np.ndarray, owners: np.ndarray, z: np.ndarray, eps: np.ndarray, norm: str
) -> np.ndarray:
    """Rows x + ε·z (z inside the ball and the box) with integers rounded, float32."""
    rows = (x0[owners] + z * eps[owners, None]).astype(np.float32)
    return box.project(rows, x0, owners)
