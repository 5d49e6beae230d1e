"""Score-based minimal perturbation: Square Attack random search inside a bisection on ε.

Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020; reference code max-andr/square-attack):
at a fixed radius ε, keep a perturbation δ and propose localized changes (a random square of the image,
all channels), accepting one when it lowers the margin loss log p_source − max other log p. L∞: the square
is set to ±ε per channel, starting from vertical stripes; L2: a square gets a two-bump pattern carrying the
mass of a second square, which is emptied, and the spare norm, so that ‖δ‖ stays ε (only the two squares'
cells change: a proposal costs a copy of its input's point and two windows). The share of pixels a square covers
follows the authors' piecewise schedule (halved at 10, 50, 200, … 8000 of 10,000), here over each input's
budget. Around it: ε is bisected between the smallest radius that flipped the class and the largest ε that
did not within `stage_queries`; every new ε is warm-started from δ rescaled. Off images a "square" is a
random subset of features (L2: a Gaussian step on it). All inputs run in lockstep, `candidates` proposals
each per model call (more as other inputs finish, see SPREAD); a stage's first proposal is always accepted.
"""

from __future__ import annotations

import functools

import numpy as np

from auditor.explain.robustness.box import Box, norms
from auditor.explain.robustness.oracle import Oracle
from auditor.explain.robustness.outcome import Outcome
from auditor.explain.robustness.params import RobustnessParams
from auditor.explain.robustness.schedule import first_radius, next_radius
from auditor.explain.robustness.windows import Windows

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # schedule steps, in 1/10,000 of the budget
P_INIT = {"linf": 0.3, "l2": 0.1}
SPREAD = 4  # inputs still searching take over finished ones' rows, up to SPREAD × `candidates` each


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
    first, cap = first_radius(box, params)
    eps = np.full(n, first, dtype=np.float64)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    current = box.project(x0 + _initial(windows, rng, n, eps, norm), x0, np.arange(n))
    margin = np.full(n, np.inf)
    stage = np.zeros(n, dtype=np.int64)
    outcome = Outcome.empty(x0)
    done = np.full(n, not cap > 0)
    while True:
        remaining = oracle.remaining()
        inputs = np.flatnonzero(~done & (remaining > 0))
        if not inputs.size:
            break
        per_input = min(
            SPREAD * params.rows_per_call("square"), -(-params.rows_per_call("square") * n // inputs.size)
        )
        count = np.minimum(per_input, remaining[inputs])
        owners = np.repeat(inputs, count)
        progress = (oracle.queries[owners] - 1) / oracle.budget
        share = p_init / 2.0 ** np.searchsorted(HALVINGS, progress * 10_000, side="left")
        points = _propose(windows, box, rng, x0, current, owners, eps, share, norm)
        margins, labels = oracle.query(points, owners)
        order = np.lexsort((margins, owners))
        heads = order[np.r_[True, owners[order][1:] != owners[order][:-1]]]  # each input's best proposal
        stage[inputs] += count
        better = margins[heads] < margin[owners[heads]]
        take, won = owners[heads][better], heads[better]
        current[take] = points[won]
        margin[take] = margins[won]
        flipped = (labels[won] >= 0) & (labels[won] != oracle.sources[take])
        hit = take[flipped]
        moved = np.zeros(n, dtype=bool)
        if hit.size:
            radius = outcome.offer(hit, points[won[flipped]], labels[won[flipped]], x0, norm)
            hi[hit] = np.minimum(hi[hit], radius)
            next_radius(hit, eps, lo, hi, cap, params.tolerance, done, outcome)
            moved[hit] = True
        stalled = inputs[(stage[inputs] >= params.stage_budget("square")) & ~moved[inputs]]
        if stalled.size:
            lo[stalled] = np.maximum(lo[stalled], eps[stalled])
            next_radius(stalled, eps, lo, hi, cap, params.tolerance, done, outcome)
            moved[stalled] = True
        warm = np.flatnonzero(moved & ~done)
        if warm.size:  # the new ε starts from the current perturbation rescaled
            delta = current[warm] - x0[warm]
            ratio = (eps[warm] / np.maximum(norms(delta, norm), 1e-30)).astype(np.float32)
            current[warm] = box.project(x0[warm] + delta * ratio[:, None], x0, warm)
            margin[warm] = np.inf
            stage[warm] = 0
    outcome.tried[:] = lo
    return outcome


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
    box: Box,
    rng: np.random.Generator,
    x0: np.ndarray,
    current: np.ndarray,
    owners: np.ndarray,
    eps: np.ndarray,
    share: np.ndarray,
    norm: str,
) -> np.ndarray:
    """One localized change of each owner's current point, grouped by window size, projected into the box."""
    points = current[owners]
    least = 3 if norm == "l2" and windows.image else 1
    total = None
    if norm == "l2" and windows.image:  # each input's ‖δ‖², shared by its proposals
        shift = current - x0
        total = np.einsum("ij,ij->i", shift, shift, dtype=np.float64)
    for value in np.unique(share):
        rows = np.flatnonzero(share == value)
        who = owners[rows]
        side = windows.side(float(value), least)
        if norm == "linf":
            index = windows.draw(rng, len(rows), side)
            origins = x0[who[:, None, None], index]
            signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(len(rows), windows.channels, 1))
            values = origins + signs * eps[who].astype(np.float32)[:, None, None]
            points[rows[:, None, None], index] = box.project_cells(values, index, origins)
        elif total is not None:
            side = side + 1 if side % 2 == 0 and side < min(windows.height, windows.width) else side
            _l2_update(windows, box, rng, x0, current, points, rows, who, eps[who], total[who], side)
        else:
            origins = x0[who]
            delta = np.subtract(points[rows], origins)
            delta = _l2_subset_update(windows, rng, delta, eps[who], side, float(value))
            delta += origins
            points[rows] = box.project(delta, x0, who)
    return points


def _l2_update(
    windows: Windows,
    box: Box,
    rng: np.random.Generator,
    x0: np.ndarray,
    current: np.ndarray,
    points: np.ndarray,
    rows: np.ndarray,
    who: np.ndarray,
    eps: np.ndarray,
    total: np.ndarray,
    side: int,
) -> None:
    """Images, in place on `points[rows]` (copies of their inputs' current points): move the perturbation δ
    of window 2 and the spare norm ε² − ‖δ‖² into window 1 with a fresh two-bump pattern, so that ‖δ‖ = ε
    (the authors' update, which conserves the norm: only the two windows' cells are touched)."""
    m = len(rows)
    first, top, left = windows.squares(rng, m, side)
    second, top2, left2 = windows.squares(rng, m, side)
    owner, row = who[:, None, None], rows[:, None, None]
    base = x0[owner, first]
    old = current[owner, first] - base
    old_sq = (old.astype(np.float64) ** 2).sum(axis=2, keepdims=True)
    # window 2's cells inside window 1 were emptied with it: their mass is not moved twice
    steps = np.arange(side)
    down = (top2[:, None] + steps)[:, :, None] - top[:, None, None]
    across = (left2[:, None] + steps)[:, None, :] - left[:, None, None]
    outside = ~(((down >= 0) & (down < side))[:, :, None] & ((across >= 0) & (across < side))[:, None, :])
    emptied = x0[owner, second]
    moved = (current[owner, second] - emptied) * outside.reshape(m, 1, side * side)
    moved_sq = (moved.astype(np.float64) ** 2).sum(axis=2, keepdims=True)
    flip = rng.random(m) > 0.5
    pattern = np.where(
        flip[:, None], _two_bumps(side, True).reshape(1, -1), _two_bumps(side, False).reshape(1, -1)
    )
    fresh = pattern[:, None, :] * rng.choice(np.array([-1.0, 1.0]), size=(m, windows.channels, 1))
    fresh = fresh + old / (np.sqrt(old_sq) + 1e-10)
    spare = np.maximum(eps**2 - total, 0.0)[:, None, None] / windows.channels
    fresh *= np.sqrt(spare + old_sq + moved_sq) / np.maximum(
        np.sqrt((fresh**2).sum(axis=2, keepdims=True)), 1e-30
    )
    points[row, second] = emptied
    points[row, first] = box.project_cells((base + fresh).astype(np.float32), first, base)


def _l2_subset_update(
    windows: Windows, rng: np.random.Generator, delta: np.ndarray, eps: np.ndarray, count: int, share: float
) -> np.ndarray:
    """Off images: a Gaussian step of norm ε·√share on `count` random features, then δ rescaled to norm ε."""
    m = len(delta)
    index = windows.draw(rng, m, count)[:, 0, :]
    step = rng.standard_normal((m, count))
    step *= (eps * np.sqrt(share))[:, None] / np.sqrt(count)
    delta[np.arange(m)[:, None], index] += step.astype(np.float32)
    scale = eps / np.maximum(np.sqrt(np.einsum("ij,ij->i", delta, delta, dtype=np.float64)), 1e-30)
    delta *= scale[:, None].astype(np.float32)
    return delta


@functools.cache
def _two_bumps(side: int, transpose: bool) -> np.ndarray:
    """The authors' L2 pattern: two stacked rectangles of decaying 1/(k+1)² rings, opposite signs, unit norm."""
    pattern = np.zeros((side, side))
    half = side // 2
    if half:
        pattern[:half] = _rings(half, side)
    pattern[half:] = -_rings(side - half, side)
    pattern /= np.sqrt((pattern**2).sum())
    pattern = np.ascontiguousarray(pattern.T if transpose else pattern)
    pattern.flags.writeable = False  # cached: shared by every call
    return pattern


def _rings(height: int, width: int) -> np.ndarray:
    """Σ_{k ≥ r} 1/(k+1)² over k < K, r the Chebyshev distance to the centre (height//2, width//2); unit norm."""
    count = max(height // 2 + 1, width // 2 + 1)
    tail = np.cumsum((1.0 / np.arange(1, count + 1) ** 2)[::-1])[::-1]
    r = np.maximum(
        np.abs(np.arange(height)[:, None] - height // 2), np.abs(np.arange(width)[None, :] - width // 2)
    )
    values = tail[np.minimum(r, count - 1)] * (r < count)
    return values / np.sqrt((values**2).sum())
