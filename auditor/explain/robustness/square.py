"""Score-based minimal perturbation: Square Attack random search inside a bisection on ε.

Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020; reference code max-andr/square-attack):
at a fixed radius ε, keep a perturbation δ and propose localized changes (a random square of the image,
all channels), accepting one when it lowers the margin loss log p_source − max other log p. L∞: the square
is set to ±ε per channel, starting from vertical stripes; L2: a square gets a two-bump pattern carrying the
mass of a second square, which is emptied, and δ is rescaled to norm ε. The share of pixels a square covers
follows the authors' piecewise schedule (halved at 10, 50, 200, … 8000 of 10,000), here over each input's
budget. Around it: ε is bisected between the smallest radius that flipped the class and the largest ε that
did not within `stage_queries`; every new ε is warm-started from δ rescaled. All inputs run in lockstep,
`candidates` proposals each per model call, and a stage's first proposal is always accepted.
"""

from __future__ import annotations

import numpy as np

from auditor.explain.robustness.box import Box, norms
from auditor.explain.robustness.oracle import Oracle
from auditor.explain.robustness.outcome import Outcome
from auditor.explain.robustness.params import RobustnessParams
from auditor.explain.robustness.windows import Windows

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # schedule steps, in 1/10,000 of the budget
P_INIT = {"linf": 0.3, "l2": 0.1}
SHRINK = 0.7  # next ε after a flip while no ε has failed yet
GROW = 2.0  # next ε after a failure while none has flipped yet
START_SHARE = 0.25  # first ε: this share of the box's diameter in the norm


def square_search(
    oracle: Oracle,
    x0: np.ndarray,
    box: Box,
    windows: Windows,
    params: RobustnessParams,
    rng: np.random.Generator,
) -> Outcome:
    """Each input's smallest flipping radius found by Square Attack within its budget (see the module doc)."""
    n = len(x0)
    norm = params.norm
    p_init = params.p_init or P_INIT[norm]
    diameter = box.diameter(norm)
    cap = diameter if np.isfinite(diameter) else np.inf
    first = params.start_radius or (START_SHARE * diameter if np.isfinite(diameter) else 1.0)
    eps = np.full(n, min(first, cap), dtype=np.float64)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    delta = _project(box, x0, np.arange(n), _initial(windows, rng, n, eps, norm))
    margin = np.full(n, np.inf)
    stage = np.zeros(n, dtype=np.int64)
    outcome = Outcome.empty(x0)
    done = np.zeros(n, dtype=bool) if cap > 0 else np.ones(n, dtype=bool)
    while True:
        remaining = oracle.remaining()
        inputs = np.flatnonzero(~done & (remaining > 0))
        if not inputs.size:
            break
        count = np.minimum(params.candidates, remaining[inputs])
        owners = np.repeat(inputs, count)
        progress = (oracle.queries[owners] - 1) / oracle.budget
        share = p_init / 2.0 ** np.searchsorted(HALVINGS, progress * 10_000, side="left")
        candidates = _propose(windows, rng, delta[owners], eps[owners], share, norm)
        candidates = _project(box, x0, owners, candidates)
        margins, labels = oracle.query(x0[owners] + candidates, owners)
        order = np.lexsort((margins, owners))
        heads = order[np.r_[True, np.diff(owners[order]) != 0]]  # each input's best proposal
        stage[inputs] += count
        better = margins[heads] < margin[owners[heads]]
        take, won = owners[heads][better], heads[better]
        delta[take] = candidates[won]
        margin[take] = margins[won]
        flipped = (labels[won] >= 0) & (labels[won] != oracle.sources[take])
        hit, rows = take[flipped], won[flipped]
        if hit.size:
            radius = outcome.offer(hit, x0[hit] + candidates[rows], labels[rows], x0, norm)
            hi[hit] = np.minimum(hi[hit], radius)
            _next_radius(hit, eps, lo, hi, cap, params.tolerance, done, outcome)
        stalled = np.setdiff1d(inputs[stage[inputs] >= params.stage_queries], hit, assume_unique=True)
        if stalled.size:
            lo[stalled] = np.maximum(lo[stalled], eps[stalled])
            _next_radius(stalled, eps, lo, hi, cap, params.tolerance, done, outcome)
        moved = np.concatenate([hit, stalled])
        moved = moved[~done[moved]]
        if moved.size:
            ratio = (eps[moved] / np.maximum(norms(delta[moved], norm), 1e-30)).astype(np.float32)
            delta[moved] = _project(box, x0, moved, delta[moved] * ratio[:, None])
            margin[moved] = np.inf
            stage[moved] = 0
    return outcome


def _next_radius(
    inputs: np.ndarray,
    eps: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    cap: float,
    tolerance: float,
    done: np.ndarray,
    outcome: Outcome,
) -> None:
    """Bisect between the largest failed ε and the smallest flipping radius; stop inputs within tolerance."""
    known = np.isfinite(hi[inputs])
    bracket = (lo[inputs] + hi[inputs]) / 2
    eps[inputs] = np.where(
        known, np.where(lo[inputs] > 0, bracket, hi[inputs] * SHRINK), np.minimum(eps[inputs] * GROW, cap)
    )
    converged = inputs[known & (hi[inputs] - lo[inputs] <= tolerance * hi[inputs])]
    done[converged] = True
    outcome.stop[converged] = "converged"


def _project(box: Box, x0: np.ndarray, owners: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """δ such that x0 + δ lies in the box (integers rounded, immutables kept)."""
    origins = x0[owners]
    return box.project(origins + delta, origins) - origins


def _initial(windows: Windows, rng: np.random.Generator, n: int, eps: np.ndarray, norm: str) -> np.ndarray:
    """L∞: vertical stripes of ±ε per channel (random signs per feature off images); L2: bumps of norm ε."""
    if norm == "linf":
        if windows.image:
            signs = rng.choice(
                np.array([-1.0, 1.0], dtype=np.float32), size=(n, windows.channels, windows.width)
            )
            delta = _image_stripes(windows, signs)
        else:
            delta = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, windows.size))
        return delta * eps[:, None].astype(np.float32)
    if windows.image:
        delta = _bump_grid(windows, rng, n)
    else:
        delta = rng.standard_normal((n, windows.size), dtype=np.float32)
    return delta * (eps / np.maximum(norms(delta, "l2"), 1e-30))[:, None].astype(np.float32)


def _image_stripes(windows: Windows, signs: np.ndarray) -> np.ndarray:
    """(n, C, W) column signs spread over every row, flattened in the windows' layout."""
    n = len(signs)
    channel, row, column = windows.strides
    index = (
        np.arange(windows.channels)[:, None, None] * channel
        + np.arange(windows.height)[None, :, None] * row
        + np.arange(windows.width)[None, None, :] * column
    )
    delta = np.empty((n, windows.size), dtype=np.float32)
    delta[:, index.reshape(-1)] = np.broadcast_to(
        signs[:, :, None, :], (n, windows.channels, windows.height, windows.width)
    ).reshape(n, -1)
    return delta


def _bump_grid(windows: Windows, rng: np.random.Generator, n: int) -> np.ndarray:
    """The authors' L2 start: a grid of two-bump patterns of side H/5, each with a random sign per channel."""
    side = max(windows.height // 5, 1)
    delta = np.zeros((n, windows.size), dtype=np.float32)
    rows = np.arange(n)[:, None, None]
    offset = (windows.height - side * (windows.height // side)) // 2
    for top in range(offset, windows.height - side + 1, side):
        for left in range(offset, windows.width - side + 1, side):
            index = _square_at(windows, top, left, side)
            pattern = _two_bumps(side, transpose=bool(rng.random() > 0.5)).reshape(1, 1, -1)
            signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, windows.channels, 1))
            delta[rows, index[None]] += pattern * signs
    return delta


def _square_at(windows: Windows, top: int, left: int, side: int) -> np.ndarray:
    channel, row, column = windows.strides
    steps = np.arange(side)
    cells = ((top + steps)[:, None] * row + (left + steps)[None, :] * column).reshape(1, -1)
    return cells + (np.arange(windows.channels) * channel)[:, None]


def _propose(
    windows: Windows,
    rng: np.random.Generator,
    delta: np.ndarray,
    eps: np.ndarray,
    share: np.ndarray,
    norm: str,
) -> np.ndarray:
    """One localized change of each row of δ (a copy), grouped by window size."""
    out = delta.copy()
    least = 3 if norm == "l2" and windows.image else 1
    for value in np.unique(share):
        rows = np.flatnonzero(share == value)
        side = windows.side(float(value), least)
        if norm == "l2" and windows.image and side % 2 == 0:
            side = max(side - 1, 1) if side + 1 > min(windows.height, windows.width) else side + 1
        update = _linf_update if norm == "linf" else _l2_update
        out[rows] = update(windows, rng, out[rows], eps[rows], side)
    return out


def _linf_update(
    windows: Windows, rng: np.random.Generator, delta: np.ndarray, eps: np.ndarray, side: int
) -> np.ndarray:
    m = len(delta)
    index = windows.draw(rng, m, side)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(m, windows.channels, 1))
    delta[np.arange(m)[:, None, None], index] = signs * eps.astype(np.float32)[:, None, None]
    return delta


def _l2_update(
    windows: Windows, rng: np.random.Generator, delta: np.ndarray, eps: np.ndarray, side: int
) -> np.ndarray:
    """Move the mass of window 2 and the spare norm into window 1 with a fresh two-bump pattern; norm ε."""
    m = len(delta)
    rows = np.arange(m)[:, None, None]
    total = np.einsum("ij,ij->i", delta, delta, dtype=np.float64)
    first, second = windows.draw(rng, m, side), windows.draw(rng, m, side)
    old = delta[rows, first]
    old_sq = (old.astype(np.float64) ** 2).sum(axis=2, keepdims=True)
    delta[rows, first] = 0.0
    moved_sq = (delta[rows, second].astype(np.float64) ** 2).sum(axis=2, keepdims=True)
    delta[rows, second] = 0.0
    if windows.image:
        flip = rng.random(m) > 0.5
        pattern = np.where(
            flip[:, None], _two_bumps(side, True).reshape(1, -1), _two_bumps(side, False).reshape(1, -1)
        )
        fresh = pattern[:, None, :] * rng.choice(np.array([-1.0, 1.0]), size=(m, windows.channels, 1))
    else:
        fresh = rng.standard_normal((m, 1, old.shape[2]))
        fresh /= np.sqrt((fresh**2).sum(axis=2, keepdims=True))
    fresh = fresh + old / (np.sqrt(old_sq) + 1e-10)
    spare = np.maximum(eps**2 - total, 0.0)[:, None, None] / windows.channels
    fresh *= np.sqrt(spare + old_sq + moved_sq) / np.maximum(
        np.sqrt((fresh**2).sum(axis=2, keepdims=True)), 1e-30
    )
    delta[rows, first] = fresh.astype(np.float32)
    scale = eps / np.maximum(np.sqrt(np.einsum("ij,ij->i", delta, delta, dtype=np.float64)), 1e-30)
    return delta * scale[:, None].astype(np.float32)


def _two_bumps(side: int, transpose: bool) -> np.ndarray:
    """The authors' L2 pattern: two stacked rectangles of decaying 1/(k+1)² rings, opposite signs, unit norm."""
    pattern = np.zeros((side, side))
    half = side // 2
    if half:
        pattern[:half] = _rings(half, side)
    pattern[half:] = -_rings(side - half, side)
    pattern /= np.sqrt((pattern**2).sum())
    return pattern.T if transpose else pattern


def _rings(height: int, width: int) -> np.ndarray:
    """Σ_{k ≥ r} 1/(k+1)² over k < K, r the Chebyshev distance to the centre (height//2, width//2); unit norm."""
    count = max(height // 2 + 1, width // 2 + 1)
    tail = np.cumsum((1.0 / np.arange(1, count + 1) ** 2)[::-1])[::-1]
    r = np.maximum(
        np.abs(np.arange(height)[:, None] - height // 2), np.abs(np.arange(width)[None, :] - width // 2)
    )
    values = tail[np.minimum(r, count - 1)] * (r < count)
    return values / np.sqrt((values**2).sum())
