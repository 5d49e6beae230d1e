"""The sparse pass of input-space searches: fewer changed units, then a line search toward x."""

from __future__ import annotations

import numpy as np

from auditor.explain.counterfactuals.engine import Run
from auditor.explain.counterfactuals.input_space import InputSpace
from auditor.explain.counterfactuals.objective import Task

SHRINK = 8  # points per level of the final line search
KEEP = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20)  # the sparse step tries keeping this many most needed units
RESCALE = (1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
PAIR_UNITS = 5  # pairs among this many most needed and this many best-probed units are tried on a grid
PAIR_GRID = (1 / 3, 2 / 3, 1.0)  # shares of the way to the box edge
REFINE = (0.3, 0.45, 0.6, 0.75, 0.9, 1.0)  # factors tried per unit of the sparsest valid candidate
REFINE_UNITS = 2


def polish(run: Run[InputSpace], tasks: list[Task], left: dict[int, int], sparse: bool) -> None:
    """Make valid input-space counterfactuals sparse and tight, in a few batched calls within `left` rows.

    With `sparse`, starting from the search's best valid row:
    1. revert each changed unit alone (one call): the margin each revert costs ranks the units;
    2. keep only the q most needed units (q in KEEP), their change rescaled by RESCALE, and try pairs
       of the most needed units on a grid (one call): a search that converged onto the boundary
       leaves no slack for plain reverts, and L1 optima of tables are often one or two features;
    3. greedy passes over the best row so far: revert every unit validity does not need;
    4. steps 1-2 again from that row.
    Always: 5. a two-level line search from x toward the best row (two calls; the second spends the rows left).
    Each task keeps whichever row scores best (proximity plus the per-unit weight).
    """
    space = run.space
    if sparse:
        dense = {task.index: task.search_best for task in tasks if task.search_best is not None}
        sparse_step(run, [task for task in tasks if task.index in dense], dense, left, partners=False)
        revert_passes(run, [task for task in tasks if task.best_valid and left[task.index] > 0], left)
        # once more from the sparse result: its own units re-ranked and re-paired
        current = {
            task.index: task.best_x.copy() for task in tasks if task.best_valid and left[task.index] > 0
        }
        sparse_step(run, [task for task in tasks if task.index in current], current, left, partners=True)
    lower = {task.index: 0.0 for task in tasks}
    for level in range(2):
        shrink = [task for task in tasks if task.best_valid and left[task.index] > 0]
        # the last level spends every row left, so a valid search ends with its budget spent
        points = [SHRINK if level == 0 else max(SHRINK, left[task.index]) for task in shrink]
        steps_of = [
            (lower[task.index] + (1 - lower[task.index]) * np.arange(1, n + 1) / (n + 1))[: left[task.index]]
            for task, n in zip(shrink, points)
        ]
        batches = [
            space.domain.project(task.x + steps[:, None] * (task.best_x - task.x), task.x)
            for task, steps in zip(shrink, steps_of)
        ]
        scored = run.score(shrink, batches)
        for task, steps, (_, valid, _, _) in zip(shrink, steps_of, scored):
            left[task.index] -= len(steps)
            # next level: between the last invalid step and the best row (now the first valid step)
            first = int(np.argmax(valid)) if valid.any() else len(steps)
            lower[task.index] = (
                0.0 if first == 0 else float(steps[first - 1] / (steps[first] if valid.any() else 1.0))
            )


def sparse_step(
    run: Run[InputSpace],
    tasks: list[Task],
    bases: dict[int, np.ndarray],
    left: dict[int, int],
    partners: bool,
) -> None:
    """Rank the units each base changed by the margin their single revert costs (one call), try the
    sparse candidates built from that ranking (one call), then refine the sparsest valid one on a
    per-unit grid toward x (one call), so that it competes at its best with denser rows."""
    space = run.space
    singles, ids_of = [], []
    for task in tasks:
        ids, rows = single_reverts(space, task, bases[task.index], left[task.index])
        singles.append(rows)
        ids_of.append(ids)
    scored = run.score(tasks, singles)
    candidates = []
    for task, ids, figures in zip(tasks, ids_of, scored):
        left[task.index] -= len(ids)
        order = ids[np.argsort(figures.margin, kind="stable")]  # lowest margin after reverting = most needed
        rows = sparse_candidates(space, task, bases[task.index], order, partners)[: max(left[task.index], 0)]
        candidates.append(space.domain.project(rows, task.x))
        left[task.index] -= len(rows)
    scored = run.score(tasks, candidates)
    refined = []
    for task, rows, (_, valid, score, _) in zip(tasks, candidates, scored):
        refined.append(refine_sparsest(space, task, rows[valid], score[valid])[: max(left[task.index], 0)])
        left[task.index] -= len(refined[-1])
    run.score(tasks, refined)


def refine_sparsest(space: InputSpace, task: Task, rows: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The valid row changing the fewest units (best score among those), each of its units (at most
    REFINE_UNITS) scaled by every combination of REFINE factors."""
    if not len(rows):
        return np.empty((0, task.x.size))
    units = space.changed_units(task.x, rows, tolerance=False)
    count = units.sum(axis=1)
    pick = int(np.lexsort((score, count))[0])
    moved = np.flatnonzero(units[pick])
    if not 0 < moved.size <= REFINE_UNITS:
        return np.empty((0, task.x.size))
    delta = rows[pick] - task.x
    factors = np.array(np.meshgrid(*[REFINE] * moved.size, indexing="ij")).reshape(moved.size, -1).T
    out = np.repeat(task.x[None], len(factors), axis=0)
    for j, unit in enumerate(moved):
        features = space.units[unit]
        out[:, features] += factors[:, j, None] * delta[features]
    return space.domain.project(out, task.x)


def sparse_candidates(
    space: InputSpace, task: Task, base: np.ndarray, order: np.ndarray, partners: bool
) -> np.ndarray:
    """Rows that change few units: the q most needed units of `base` rescaled (q in KEEP, factors in
    RESCALE); every pair from the PAIR_UNITS most needed and the PAIR_UNITS best-probed units, on a
    grid toward the box edge in the direction they moved (or were probed); with `partners`, also the
    most needed unit paired with every other unit."""
    x = task.x
    delta = base - x
    lower, upper = space.domain.box
    rows: list[np.ndarray] = []
    for kept_units in (count for count in KEEP if count < len(order)):
        keep = np.concatenate([space.units[unit] for unit in order[:kept_units]])
        kept = np.zeros_like(delta)
        kept[keep] = delta[keep]
        rows.extend(x + factor * kept for factor in RESCALE)

    def reaches(unit: int) -> list[np.ndarray]:
        features = space.units[unit]
        moved = delta[features]
        if not (moved != 0).any() and unit in task.probe_sign:
            moved = np.full(len(features), task.probe_sign[unit])
        if (moved != 0).any():
            edge = np.where(moved > 0, upper[features], lower[features]) - x[features]
            return [np.where(np.isfinite(edge), edge, 4 * moved * space.domain.scale[features])]
        ends = (upper[features] - x[features], lower[features] - x[features])
        return [end for end in ends if np.isfinite(end).all() and (end != 0).any()]

    pool = list(
        dict.fromkeys([int(u) for u in order[:PAIR_UNITS]] + [int(u) for u in task.probe_order[:PAIR_UNITS]])
    )
    pairs = [(pool[a], pool[b]) for a in range(len(pool)) for b in range(a + 1, len(pool))]
    if partners and len(order):
        pairs += [(int(order[0]), u) for u in range(len(space.units)) if u not in pool]
    grid = np.array(PAIR_GRID)
    steps_a, steps_b = np.repeat(grid, grid.size)[:, None], np.tile(grid, grid.size)[:, None]
    blocks = [np.array(rows)] if rows else []
    for first, second in pairs:
        ua, ub = space.units[first], space.units[second]
        for ra in reaches(first):
            for rb in reaches(second):
                block = np.repeat(x[None], grid.size**2, axis=0)
                block[:, ua] += steps_a * ra
                block[:, ub] += steps_b * rb
                blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty((0, x.size))


def revert_passes(run: Run[InputSpace], tasks: list[Task], left: dict[int, int]) -> None:
    """Greedy reverts: each pass tries every single-unit revert in one call, then the longest valid prefix
    of the valid ones (most margin kept first) in a second call; repeats while any revert stays valid."""
    space = run.space
    active = tasks
    while active:
        tries, units_tried = [], []
        for task in active:
            ids, rows = single_reverts(space, task, task.best_x, left[task.index])
            tries.append(rows)
            units_tried.append(ids)
        scored = run.score(active, tries)
        prefixes = []
        for task, base, ids, figures in zip(
            active, [task.best_x.copy() for task in active], units_tried, scored
        ):
            left[task.index] -= len(ids)
            order = [int(i) for i in np.argsort(-figures.margin, kind="stable") if figures.valid[i]]
            prefix = []
            for length in range(2, min(len(order), left[task.index] + 1) + 1):
                row = base.copy()
                for i in order[:length]:
                    row[space.units[ids[i]]] = task.x[space.units[ids[i]]]
                prefix.append(row)
            prefixes.append(np.array(prefix) if prefix else np.empty((0, base.size)))
        run.score(active, prefixes)
        for task, tried in zip(active, prefixes):
            left[task.index] -= len(tried)
        active = [
            task for task, figures in zip(active, scored) if figures.valid.any() and left[task.index] > 0
        ]


def single_reverts(
    space: InputSpace, task: Task, base: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """The units `base` changes (the first `limit`) and, for each, `base` with that unit set back to x."""
    ids = np.flatnonzero(space.changed_units(task.x, base[None], tolerance=False)[0])[: max(limit, 0)]
    rows = np.repeat(base[None], len(ids), axis=0)
    for row, unit in enumerate(ids):
        rows[row, space.units[unit]] = task.x[space.units[unit]]
    return ids, rows
