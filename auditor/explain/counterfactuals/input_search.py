"""One input-space round: starts from single-feature probes and unlike neighbours, the search, the polish."""

from __future__ import annotations

import numpy as np

from auditor.explain.counterfactuals.engine import Run
from auditor.explain.counterfactuals.input_space import InputSpace
from auditor.explain.counterfactuals.objective import Task
from auditor.explain.counterfactuals.sparsity import polish

PROBE_STEPS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # single-feature probes, in scale units
START_SHARE = 4  # probes and neighbours may use up to 1/4 of a round's budget
NEIGHBOURS = 32  # nearest reference rows tried as starts (tables)
SEGMENT = 16  # points on the segment from x to the nearest valid neighbour
POLISH_SHARE = 0.4  # the sparse pass and the line search keep this share of it


def input_round(
    run: Run[InputSpace],
    tasks: list[Task],
    rngs: list[np.random.Generator],
    budget: int,
    neighbours: np.ndarray | None,
    sigma: float | None,
    sparse: bool,
) -> None:
    """One input-space round within `budget` rows per task: starts (probes, nearest unlike
    neighbours; up to 1/START_SHARE), the search, then the polish (POLISH_SHARE kept for it; a search
    that found nothing valid spends that share searching on)."""
    space = run.space
    spent = run.queries.copy()
    allowance = budget // START_SHARE
    probe_rows = 2 * len(PROBE_STEPS) * space.dim
    if probe_rows <= allowance:
        probe(run, tasks)
        allowance -= probe_rows
    if neighbours is not None and allowance >= NEIGHBOURS + SEGMENT:
        unlike_neighbours(run, tasks, neighbours)
    starts = [space.start(task) for task in tasks]
    used = max(int(run.queries[task.index] - spent[task.index]) for task in tasks)
    search_budget = budget - used - int(budget * POLISH_SHARE)
    run.search(tasks, search_budget, [(u0, sigma or step) for u0, step in starts], rngs)
    # nothing valid to polish: the share kept for the polish goes on searching, from the best row so far
    stuck = [i for i, task in enumerate(tasks) if not task.best_valid and task.stop_reason == "budget"]
    if stuck:
        more = [tasks[i] for i in stuck]
        rest = min(budget - int(run.queries[task.index] - spent[task.index]) for task in more)
        again = [space.start(task) for task in more]
        run.search(more, rest, [(u0, sigma or step) for u0, step in again], [rngs[i] for i in stuck])
    left = {task.index: budget - int(run.queries[task.index] - spent[task.index]) for task in tasks}
    polish(run, tasks, left, sparse)


def probe(run: Run[InputSpace], tasks: list[Task]) -> None:
    """Single-parameter steps (± PROBE_STEPS scale units), every task's in one call; each keeps its best."""
    space = run.space
    steps = np.concatenate([np.array(PROBE_STEPS), -np.array(PROBE_STEPS)])
    u = np.zeros((space.dim * steps.size, space.dim))
    u[np.arange(len(u)), np.repeat(np.arange(space.dim), steps.size)] = np.tile(steps, space.dim)
    batches = [space.rows(task.x, u) for task in tasks]
    moved = [np.flatnonzero(np.abs(batch - task.x).max(axis=1) > 0) for batch, task in zip(batches, tasks)]
    scored = run.score(tasks, [batch[kept] for batch, kept in zip(batches, moved)])
    for task, kept, figures in zip(tasks, moved, scored):
        # rank units by the best margin a probe along them reached; remember that probe's direction
        units = space.unit_of_param[kept // steps.size]
        order = np.lexsort((-figures.margin, units))
        first = np.unique(units[order], return_index=True)[1]
        best_unit, best_margin = units[order][first], figures.margin[order][first]
        task.probe_order = best_unit[np.argsort(-best_margin, kind="stable")]
        signs = np.sign(steps[kept[order][first] % steps.size])
        task.probe_sign = dict(zip(best_unit.tolist(), signs.tolist()))


def unlike_neighbours(run: Run[InputSpace], tasks: list[Task], reference: np.ndarray) -> None:
    """Nearest unlike neighbours: each task's NEIGHBOURS nearest reference rows (scaled distance, projected
    onto its constraints) in one call, then the segment from x to the nearest valid one in a second call."""
    space = run.space
    scale = space.domain.scale
    ref = reference / scale
    batches = []
    for task in tasks:
        d2 = ((ref - task.x / scale) ** 2).sum(axis=1)
        nearest = np.argsort(d2, kind="stable")[:NEIGHBOURS]
        batches.append(space.domain.project(reference[nearest].copy(), task.x))
    scored = run.score(tasks, batches)
    segments = []
    for task, rows, (_, valid, score, _) in zip(tasks, batches, scored):
        if not valid.any():
            segments.append(np.empty((0, task.x.size)))
            continue
        goal = rows[int(np.argmin(score))]
        shares = np.arange(1, SEGMENT + 1)[:, None] / (SEGMENT + 1)
        segments.append(space.domain.project(task.x + shares * (goal - task.x), task.x))
    run.score(tasks, segments)
