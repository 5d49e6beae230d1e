"""Decision-based minimal perturbation from labels only, in the style of HopSkipJump.

HopSkipJumpAttack (Chen, Jordan & Wainwright, IEEE S&P 2020; reference code Jianbo-Lab/HSJA): start from a
point the model labels differently, binary-search the segment to the input down to the decision boundary,
then repeat: estimate the boundary's normal from the labels of random probes around the boundary point
(B₀√t probes at iteration t, baseline-corrected vote average), step along it (L2: the unit direction; L∞:
its sign) with a geometric step size ‖x_t − x‖/√t halved until the label stays flipped, and binary-search
back toward the input (L∞: by clipping to a shrinking cube). Here: the start is the nearest reference row
of another label (`starts`: one per label, the closest boundary point kept), else uniform rows in the box;
probes are random signs of size `PROBE_SIZE`·distance/√D per feature, drawn per PROBE_CELL² block of pixels
on images (a coarser probe space estimates the normal with fewer queries), clipped into the box; the step
follows a running mean of the normal estimates (MOMENTUM); L∞ also tries the corner x + α·sign(normal)
each iteration; an input stops once, past half its budget, its radius gained less than `tolerance` over
PATIENCE iterations. All inputs move in lockstep: one model call for every input's probes, one per
bisection step or step-size trial.
"""

from __future__ import annotations

import functools

import numpy as np

from auditor.explain.robustness.box import Box
from auditor.explain.robustness.oracle import Oracle
from auditor.explain.robustness.outcome import Outcome
from auditor.explain.robustness.params import RobustnessParams
from auditor.explain.robustness.starts import starting_points
from auditor.explain.robustness.windows import Windows

PROBE_SIZE = 1.0  # probe radius, in units of distance/√D
PROBE_CELL = 2  # image probes are random per block of PROBE_CELL² pixels
MIN_PROBES = 4
HALVINGS = 10  # step-size trials per iteration
MOMENTUM = 0.5  # share of the previous normal estimates kept in the step direction
PATIENCE = 5  # iterations over which the radius must shrink by `tolerance` to go on


def hopskipjump_search(
    oracle: Oracle,
    x0: np.ndarray,
    box: Box,
    windows: Windows,
    params: RobustnessParams,
    rng: np.random.Generator,
    reference: np.ndarray,
    reference_labels: np.ndarray,
) -> Outcome:
    """Each input's closest flipped point found on the decision boundary within its budget (module doc)."""
    n, dim = x0.shape
    norm = params.norm
    steps = params.bisections or max(10, int(np.ceil(np.log2(8 * np.sqrt(dim)))))
    outcome = Outcome.empty(x0)
    owners, targets, labels = starting_points(
        oracle, box, x0, reference, reference_labels, params.starts, rng, norm, outcome.tried
    )
    points, point_labels, _ = bisect(oracle, box, x0, owners, targets, labels, steps, norm)
    outcome.offer(owners, points, point_labels, x0, norm)
    current = outcome.best.copy()
    distance = outcome.radius.copy()
    history = [outcome.radius.copy()]
    trend = np.zeros(x0.shape, dtype=np.float64)
    done = np.zeros(n, dtype=bool)
    t = 1
    while True:
        if t > PATIENCE:  # converged: past half its budget, less than `tolerance` gained in PATIENCE steps
            before = history[-PATIENCE - 1]
            stalled = ~done & (outcome.radius > before * (1 - params.tolerance))
            stalled &= 2 * oracle.queries >= oracle.budget
            done[stalled] = True
            outcome.stop[stalled] = "converged"
        remaining = oracle.remaining()
        inputs = np.flatnonzero(~done & np.isfinite(distance) & (remaining >= MIN_PROBES + 1 + steps))
        if not inputs.size:
            break
        count = np.minimum(
            int(min(params.probes * np.sqrt(t), params.max_probes)), remaining[inputs] - 1 - steps
        )
        # probes move every feature by ±size: PROBE_SIZE·distance/√D in the search's norm
        size = PROBE_SIZE * distance[inputs] / (dim if norm == "l2" else np.sqrt(dim))
        normal = _normal(oracle, box, windows, x0, current, size, inputs, count, rng)
        trend[inputs] = MOMENTUM * trend[inputs] + (1 - MOMENTUM) * normal
        direction = trend[inputs]
        if norm == "linf":
            direction = np.sign(direction)
        else:
            direction = direction / np.maximum(np.sqrt((direction**2).sum(axis=1, keepdims=True)), 1e-30)
        moved, ahead, ahead_labels = _step(
            oracle, box, x0, current, distance, inputs, direction, t, steps, norm
        )
        if moved.size:
            points, point_labels, _ = bisect(oracle, box, x0, moved, ahead, ahead_labels, steps, norm)
            radius = outcome.offer(moved, points, point_labels, x0, norm)
            current[moved], distance[moved] = points, radius
        if norm == "linf":
            _vertex(oracle, box, x0, current, distance, inputs, np.sign(trend[inputs]), steps, outcome)
        history.append(outcome.radius.copy())
        t += 1
    return outcome


def _normal(
    oracle: Oracle,
    box: Box,
    windows: Windows,
    x0: np.ndarray,
    current: np.ndarray,
    size: np.ndarray,
    inputs: np.ndarray,
    count: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Boundary normal at each input's current point from `count` label probes each, all in one model call.

    Probes are current ± size per feature (random signs, per block of pixels on images), clipped into the
    box; the unit estimate is Σ (vote − mean vote)·(probe − current), the vote +1 where the
    label stays flipped (the mean is not subtracted when every vote agrees), as HopSkipJump does."""
    dim = x0.shape[1]
    order = np.argsort(-count, kind="stable")  # inputs with the full probe count first: one block
    inputs, count = inputs[order], count[order]
    full = int(np.count_nonzero(count == count[0]))
    owners = np.repeat(inputs, count)
    size = size[order].astype(np.float32)
    low = current[inputs] - size[:, None]
    bits = _random_bits(rng, len(owners), windows)
    probes = np.empty((len(owners), dim), dtype=np.float32)
    head = full * int(count[0])
    block = probes[:head].reshape(full, int(count[0]), dim)
    np.multiply(bits[:head].reshape(block.shape), (2 * size[:full])[:, None, None], out=block)
    block += low[:full, None, :]
    if head < len(owners):
        tail = np.repeat(np.arange(full, len(inputs)), count[full:])
        np.multiply(bits[head:], (2 * size[tail])[:, None], out=probes[head:])
        probes[head:] += low[tail]
    box.project(probes, x0, owners)
    _, labels = oracle.query(probes, owners)
    vote = np.where((labels >= 0) & (labels != oracle.sources[owners]), 1.0, -1.0)
    starts = np.r_[0, np.cumsum(count)[:-1]]
    mean = np.add.reduceat(vote, starts) / count
    weight = vote - np.repeat(np.where(np.abs(mean) < 1, mean, 0.0), count)
    weight = weight.astype(np.float32)
    gradient = np.empty((len(inputs), dim), dtype=np.float64)
    gradient[:full] = np.matmul(weight[:head].reshape(full, 1, -1), block)[:, 0, :]
    if head < len(owners):
        gradient[full:] = np.add.reduceat(probes[head:] * weight[head:, None], starts[full:] - head, axis=0)
    gradient -= np.add.reduceat(weight, starts)[:, None] * current[inputs]  # Σ w·(probe − current)
    out = np.empty_like(gradient)
    out[order] = gradient / np.maximum(np.sqrt((gradient**2).sum(axis=1, keepdims=True)), 1e-30)
    return out


def _vertex(
    oracle: Oracle,
    box: Box,
    x0: np.ndarray,
    current: np.ndarray,
    distance: np.ndarray,
    inputs: np.ndarray,
    signs: np.ndarray,
    steps: int,
    outcome: Outcome,
) -> None:
    """L∞ only: the corner x + α·sign(normal) with the smallest flipping α (one trial at 2·distance, then a
    bisection); where it beats the walk's point, the walk moves there. The L∞ optimum of a locally linear
    boundary is such a corner, which sign estimates reach only one noisy step at a time."""
    owners = inputs[oracle.remaining()[inputs] >= 1 + steps]
    if not owners.size:
        return
    signs = signs[np.isin(inputs, owners)]
    corners = box.project(x0[owners] + (2 * distance[owners])[:, None].astype(np.float32) * signs, x0, owners)
    _, labels = oracle.query(corners, owners)
    flipped = (labels >= 0) & (labels != oracle.sources[owners])
    owners, corners, labels = owners[flipped], corners[flipped], labels[flipped]
    points, point_labels, _ = bisect(oracle, box, x0, owners, corners, labels, steps, "linf")
    radius = outcome.offer(owners, points, point_labels, x0, "linf")
    closer = radius < distance[owners]
    current[owners[closer]], distance[owners[closer]] = points[closer], radius[closer]


def _random_bits(rng: np.random.Generator, m: int, windows: Windows) -> np.ndarray:
    """(m, D) random 0/1; on images drawn per PROBE_CELL×PROBE_CELL block of pixels (per channel)."""
    if windows.image and min(windows.height, windows.width) >= 4 * PROBE_CELL:
        cells, index = _probe_cells(windows.channels, windows.height, windows.width, windows.strides)
    else:
        cells, index = windows.size, None
    count = m * cells
    bits = np.unpackbits(np.frombuffer(rng.bytes((count + 7) // 8), np.uint8), count=count).reshape(m, cells)
    return bits if index is None else np.take(bits, index, axis=1)


@functools.cache
def _probe_cells(
    channels: int, height: int, width: int, strides: tuple[int, int, int]
) -> tuple[int, np.ndarray]:
    """An image's random cells per probe, and each flat feature's cell (its channel's PROBE_CELL² block)."""
    rows, columns = -(-height // PROBE_CELL), -(-width // PROBE_CELL)
    channel, row, column = strides
    cell = (
        np.arange(channels)[:, None, None] * rows * columns
        + (np.arange(height) // PROBE_CELL)[None, :, None] * columns
        + (np.arange(width) // PROBE_CELL)[None, None, :]
    )
    flat = (
        np.arange(channels)[:, None, None] * channel
        + np.arange(height)[None, :, None] * row
        + np.arange(width)[None, None, :] * column
    )
    index = np.empty(channels * height * width, dtype=np.intp)
    index[flat.reshape(-1)] = cell.reshape(-1)
    index.flags.writeable = False  # cached: shared by every call
    return channels * rows * columns, index


def _step(
    oracle: Oracle,
    box: Box,
    x0: np.ndarray,
    current: np.ndarray,
    distance: np.ndarray,
    inputs: np.ndarray,
    direction: np.ndarray,
    t: int,
    steps: int,
    norm: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric step size: ξ = distance/√t along the direction, halved until the label stays flipped.

    Returns the inputs that found such a step, the stepped points and their labels."""
    size = distance[inputs] / np.sqrt(t)
    trying = np.arange(len(inputs))
    found = np.zeros(len(inputs), dtype=bool)
    points = np.empty((len(inputs), x0.shape[1]), dtype=np.float32)
    labels = np.full(len(inputs), -1, dtype=np.int64)
    for _ in range(HALVINGS):
        owners = inputs[trying]
        affordable = oracle.remaining()[owners] >= 1 + steps
        trying, owners = trying[affordable], owners[affordable]
        if not trying.size:
            break
        rows = current[owners] + (size[trying, None] * direction[trying]).astype(np.float32)
        box.project(rows, x0, owners)
        _, answer = oracle.query(rows, owners)
        flipped = (answer >= 0) & (answer != oracle.sources[owners])
        hit = trying[flipped]
        found[hit], points[hit], labels[hit] = True, rows[flipped], answer[flipped]
        trying = trying[~flipped]
        size[trying] /= 2
        if not trying.size:
            break
    return inputs[found], points[found], labels[found]


def bisect(
    oracle: Oracle,
    box: Box,
    x0: np.ndarray,
    owners: np.ndarray,
    targets: np.ndarray,
    labels: np.ndarray,
    steps: int,
    norm: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary search from each flipped target toward its input: the closest flipped points of the segments
    (L2: straight blend; L∞: the target clipped to a shrinking cube around the input), their labels and λ."""
    m = len(owners)
    origins = x0[owners]
    span = targets - origins
    reach = np.abs(span).max(axis=1) if m else np.empty(0)
    lo, hi = np.zeros(m), np.ones(m)
    points, point_labels = targets.copy(), labels.copy()
    per_input = np.bincount(owners, minlength=len(x0))
    for _ in range(steps):
        rows = np.flatnonzero(per_input[owners] <= oracle.remaining()[owners])
        if not rows.size:
            break
        mid = (lo[rows] + hi[rows]) / 2
        trial = _blend(origins[rows], span[rows], mid, reach[rows], norm)
        box.project(trial, x0, owners[rows])
        _, answer = oracle.query(trial, owners[rows])
        flipped = (answer >= 0) & (answer != oracle.sources[owners[rows]])
        yes, no = rows[flipped], rows[~flipped]
        hi[yes], points[yes], point_labels[yes] = mid[flipped], trial[flipped], answer[flipped]
        lo[no] = mid[~flipped]
    return points, point_labels, hi


def _blend(
    origins: np.ndarray, span: np.ndarray, share: np.ndarray, reach: np.ndarray, norm: str
) -> np.ndarray:
    if norm == "l2":
        return origins + (share[:, None] * span).astype(np.float32)
    limit = (share * reach).astype(np.float32)[:, None]
    return origins + np.clip(span, -limit, limit)
