"""The shared search machinery: the state of one `counterfactuals` call and its budgeted lockstep searches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np

from auditor.explain.counterfactuals.objective import Scored, Task
from auditor.explain.counterfactuals.params import CounterfactualParams
from auditor.explain.counterfactuals.space import Space
from auditor.model.blackbox import BlackBox
from auditor.search import (
    Evaluation,
    ObjectiveMany,
    Search,
    SearchResult,
    StopRule,
    make_search,
    minimize_lockstep,
)

MIN_DELTA = 1e-3  # on log(proximity): a 0.1 % relative improvement

SpaceT = TypeVar("SpaceT", bound=Space)


def budgeted_lockstep(
    objective_many: ObjectiveMany, searches: list[Search], budget: int, patience: int
) -> list[SearchResult]:
    """minimize_lockstep with a hard budget of `budget` rows per search (the last generation is trimmed
    to it); each search ends on budget or patience only."""
    stop = StopRule(budget=budget, patience=patience, min_delta=MIN_DELTA, stop_on_success=False)
    return minimize_lockstep(objective_many, searches, stop, row_cap=budget)


class Run(Generic[SpaceT]):
    """State shared by every phase of one `counterfactuals` call: model, space, per-input query counts."""

    def __init__(self, blackbox: BlackBox, space: SpaceT, inputs: int, params: CounterfactualParams) -> None:
        self.blackbox = blackbox
        self.space = space
        self.queries = np.zeros(inputs, dtype=np.int64)
        self.params = params

    def predict(self, batches: Sequence[np.ndarray], owners: Sequence[Task]) -> list[np.ndarray]:
        """One model call for every task's rows; counts each task's queries."""
        sizes = [len(batch) for batch in batches]
        if not sum(sizes):
            return [np.empty((0, self.blackbox.n_classes)) for _ in batches]
        rows = np.concatenate([batch for batch in batches if len(batch)])
        probs = self.blackbox.predict(rows.reshape(len(rows), *self.blackbox.input_shape).astype(np.float32))
        for task, size in zip(owners, sizes):
            self.queries[task.index] += size
        return np.split(probs.astype(np.float64), np.cumsum(sizes)[:-1])

    def score(
        self,
        tasks: Sequence[Task],
        batches: Sequence[np.ndarray],
        latents: Sequence[np.ndarray | None] | None = None,
    ) -> list[Scored]:
        """Predict every task's rows in one call and let each task keep its best; `latents`: their parameters, if any."""
        probs = self.predict(batches, tasks)
        if latents is None:
            latents = [None] * len(tasks)
        out = []
        for task, rows, task_probs, z in zip(tasks, batches, probs, latents):
            scored = task.evaluate(rows, task_probs, self.space.proximity(task, rows, z))
            task.offer(rows, task_probs, scored.valid, scored.score, z)
            out.append(scored)
        return out

    def search(
        self,
        tasks: list[Task],
        budget: int,
        starts: list[tuple[np.ndarray, float]],
        rngs: list[np.random.Generator],
    ) -> None:
        """The zero-order search for every task in lockstep (one model call per generation), `budget` rows each."""
        if budget < 1:
            return
        method = self.params.method
        popsize = self.params.popsize if self.params.popsize is not None else self.space.popsize_for(method)
        searches = [
            make_search(method, self.space.dim, rng, x0=x0, sigma=sigma, popsize=popsize)
            for (x0, sigma), rng in zip(starts, rngs)
        ]

        def evaluate_many(asks: list[np.ndarray], owners: Sequence[int]) -> list[Evaluation]:
            owned = [tasks[owner] for owner in owners]
            batches = self.space.decode(owned, asks)
            evaluations = []
            for task, rows, scored in zip(owned, batches, self.score(owned, batches, asks)):
                # λ halves after every generation of a search that found no valid row
                task.generation_done(bool(np.any(scored.valid & np.isfinite(scored.loss))))
                evaluations.append(Evaluation(scored.loss, scored.valid, {"x": rows}))
            return evaluations

        for task, result in zip(
            tasks, budgeted_lockstep(evaluate_many, searches, budget, self.params.patience)
        ):
            task.stop_reason = result.stop_reason
            if result.best_success:
                task.search_best = np.asarray(result.best_extra["x"], dtype=np.float64)
