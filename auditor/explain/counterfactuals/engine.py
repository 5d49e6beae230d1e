"""The shared search machinery: budgeted searches in lockstep and the state of one `counterfactuals` call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from auditor.explain.counterfactuals.objective import Task
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

if TYPE_CHECKING:
    from auditor.explain.counterfactuals.input_space import InputSpace
    from auditor.explain.counterfactuals.latent import LatentSpace

# CMA-ES rows per generation in input space: half the generations (and cma's overhead) of 32
INPUT_POPSIZE = 64
MIN_DELTA = 1e-3  # on log(proximity): a 0.1 % relative improvement


class Budgeted:
    """A Search that never asks for more rows than its budget has left; `waiting` marks a pending ask."""

    def __init__(self, inner: Search, budget: int, owner: Task | None = None, index: int = 0) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.remaining = budget
        self.owner = owner
        self.index = index
        self.waiting = False
        self._full: np.ndarray | None = None

    def ask(self) -> np.ndarray:
        full = np.asarray(self.inner.ask(), dtype=np.float64)
        self._full = full
        self.waiting = True
        return full[: max(self.remaining, 1)]

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        assert self._full is not None
        self.waiting = False
        rows = len(z)
        self.remaining -= rows
        loss = np.full(len(self._full), np.inf)
        success = np.zeros(len(self._full), dtype=bool)
        loss[:rows], success[:rows] = evaluation.loss, evaluation.success
        self.inner.tell(self._full, Evaluation(loss, success))
        if self.owner is not None:
            self.owner.generation_done(bool(np.any(evaluation.success)))


def asking(wrappers: list[Budgeted], asks: list[np.ndarray]) -> list[Budgeted]:
    active = [w for w in wrappers if w.waiting]
    if len(active) != len(asks):
        raise RuntimeError(f"lockstep bookkeeping: {len(asks)} asks for {len(active)} waiting searches")
    return active


def lockstep(
    wrappers: list[Budgeted], evaluate_many: ObjectiveMany, budget: int, patience: int
) -> list[SearchResult]:
    """minimize_lockstep over searches sharing one budget: the wrappers trim the last generation to it,
    and the shared rule stops each search once it has spent it; ends on budget or patience only."""
    stop = StopRule(budget=budget, patience=patience, min_delta=MIN_DELTA, stop_on_success=False)
    return minimize_lockstep(evaluate_many, wrappers, stop)  # type: ignore[arg-type]


class Run:
    """State shared by every phase of one `counterfactuals` call: model, space, counters."""

    def __init__(
        self,
        blackbox: BlackBox,
        space: InputSpace | LatentSpace,
        generator_rows: list[int],
        method: str,
        popsize: int | None,
        patience: int,
    ) -> None:
        self.blackbox = blackbox
        self.space = space
        self.queries = np.zeros(len(generator_rows), dtype=np.int64)
        self.generator_rows = generator_rows
        self.method = method
        self.popsize = popsize
        self.patience = patience

    def predict(self, batches: list[np.ndarray], owners: list[Task]) -> list[np.ndarray]:
        """One model call for every task's rows; counts each task's queries."""
        sizes = [len(b) for b in batches]
        if not sum(sizes):
            return [np.empty((0, self.blackbox.n_classes)) for _ in batches]
        rows = np.concatenate([b for b in batches if len(b)])
        probs = self.blackbox.predict(rows.reshape(len(rows), *self.blackbox.input_shape).astype(np.float32))
        for task, size in zip(owners, sizes):
            self.queries[task.index] += size
        return np.split(probs.astype(np.float64), np.cumsum(sizes)[:-1])

    def score(
        self, tasks: list[Task], batches: list[np.ndarray], zs: Sequence[np.ndarray | None] | None = None
    ) -> list[tuple]:
        """Predict every task's rows in one call and let each task keep its best; `zs`: their latents, if any."""
        probs = self.predict(batches, tasks)
        if zs is None:
            zs = [None] * len(tasks)
        out = []
        for task, rows, p, z in zip(tasks, batches, probs, zs):
            loss, valid, score, m = task.evaluate(rows, p, self.space.proximity(task, rows, z))
            task.offer(rows, p, valid, score, z)
            out.append((loss, valid, score, m))
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
        wrappers = []
        for task, (x0, sigma), rng in zip(tasks, starts, rngs):
            options: dict[str, object] = {"x0": x0, "sigma": sigma}
            if self.popsize is not None:
                options["popsize"] = self.popsize
            elif self.method == "cmaes" and not self.space.latent:
                options["popsize"] = INPUT_POPSIZE
            wrappers.append(Budgeted(make_search(self.method, self.space.dim, rng, **options), budget, task))

        def evaluate_many(asks: list[np.ndarray]) -> list[Evaluation]:
            active = asking(wrappers, asks)
            owners = [w.owner for w in active]
            batches = self.space.decode(owners, asks, self.generator_rows)  # type: ignore[arg-type]
            scored = self.score(owners, batches, list(asks))  # type: ignore[arg-type]
            return [
                Evaluation(loss, valid, {"x": rows}) for (loss, valid, _, _), rows in zip(scored, batches)
            ]

        for task, result in zip(tasks, lockstep(wrappers, evaluate_many, budget, self.patience)):
            task.stop_reason = result.stop_reason
            if result.best_success:
                task.search_best = np.asarray(result.best_extra["x"], dtype=np.float64)
