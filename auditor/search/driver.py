"""The loop that runs searches: `minimize` for one, `minimize_lockstep` for several in one batch.

Each generation asks, scores the rows as one call of the objective, tells, and records the best
row ever evaluated and a history row; a `StopRule` ends each search on its own.
"""

from __future__ import annotations

import time

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.protocol import (
    Evaluation,
    Generation,
    Objective,
    ObjectiveMany,
    Search,
    SearchResult,
    StopReason,
    StopRule,
)


def _sanitised(evaluation: Evaluation, rows: int) -> tuple[Evaluation, int]:
    """Evaluation with float64 losses (non-finite -> +inf) and bool successes; also the count."""
    loss = np.asarray(evaluation.loss, dtype=np.float64)
    success = np.asarray(evaluation.success, dtype=bool)
    if loss.shape != (rows,) or success.shape != (rows,):
        raise ArgumentError(
            f"the objective must return loss and success of shape ({rows},), "
            f"got {loss.shape} and {success.shape}"
        )
    finite = np.isfinite(loss)
    nonfinite = rows - int(np.count_nonzero(finite))
    if nonfinite:
        loss = np.where(finite, loss, np.inf)
        success = success & finite
    return Evaluation(loss, success, evaluation.extra), nonfinite


def _median(loss: np.ndarray) -> float:
    """Median of a NaN-free vector; np.median costs ~10x more for a small population."""
    ordered = np.sort(loss)
    half = ordered.size // 2
    return float(ordered[half] if ordered.size % 2 else 0.5 * (ordered[half - 1] + ordered[half]))


def _padded(evaluation: Evaluation, rows: int) -> Evaluation:
    """The evaluation of a trimmed ask, extended to the full ask's `rows` with +inf losses (no extras)."""
    loss = np.full(rows, np.inf)
    success = np.zeros(rows, dtype=bool)
    scored = len(evaluation.loss)
    loss[:scored], success[:scored] = evaluation.loss, evaluation.success
    return Evaluation(loss, success)


class _Progress:
    """Book-keeping for one search: best row, history, stopping state, rows left under the cap."""

    def __init__(self, search: Search, stop: StopRule, row_cap: int | None) -> None:
        self.search = search
        self.stop = stop
        self.row_cap = row_cap
        self.best_z: np.ndarray | None = None
        self.best_loss = np.inf
        self.best_success = False
        self.best_extra: dict[str, np.ndarray] = {}
        self.queries = 0
        self.history: list[Generation] = []
        self.reference = np.inf
        self.stale = 0
        self.first_success: int | None = None
        self.reason: StopReason | None = None
        self.seconds = 0.0

    def ask(self) -> tuple[np.ndarray, np.ndarray]:
        """The search's full ask, validated, and the rows of it to score (trimmed to the row cap)."""
        full = np.asarray(self.search.ask(), dtype=np.float64)
        if full.ndim != 2 or full.shape[0] < 1 or full.shape[1] != self.search.dim:
            raise ArgumentError(f"ask() must return (n, {self.search.dim}) rows, got shape {full.shape}")
        if self.row_cap is None:
            return full, full
        return full, full[: self.row_cap - self.queries]

    def tell(self, full: np.ndarray, scored: np.ndarray, raw: Evaluation) -> None:
        """Tell the search (rows cut by the cap count as +inf) and record the generation."""
        evaluation, nonfinite = _sanitised(raw, scored.shape[0])
        told = evaluation if len(scored) == len(full) else _padded(evaluation, len(full))
        self.search.tell(full, told)
        self.record(scored, evaluation, nonfinite)

    def record(self, z: np.ndarray, evaluation: Evaluation, nonfinite: int) -> None:
        loss, success = evaluation.loss, evaluation.success
        rows = loss.shape[0]
        if self.first_success is None and success.any():
            self.first_success = self.queries + int(np.argmax(success)) + 1
        self.queries += rows
        best = int(np.argmin(loss))
        if self.best_z is None or loss[best] < self.best_loss:
            self.best_z = z[best].copy()
            self.best_loss = float(loss[best])
            self.best_success = bool(success[best])
            self.best_extra = {key: np.array(value[best]) for key, value in evaluation.extra.items()}
        if self.best_loss < self.reference - self.stop.min_delta:
            self.reference = self.best_loss
            self.stale = 0
        else:
            self.stale += 1
        self.history.append(
            Generation(len(self.history), self.best_loss, _median(loss), self.queries, nonfinite)
        )
        self.reason = self._reason(success, nonfinite == rows)

    def _reason(self, success: np.ndarray, all_nonfinite: bool) -> StopReason | None:
        stop = self.stop
        reached = self.best_success if stop.success_rule == "best" else bool(success.all())
        if stop.stop_on_success and reached:
            return "target_reached"
        if all_nonfinite:
            return "all_nonfinite"
        if self.queries >= stop.budget or (self.row_cap is not None and self.queries >= self.row_cap):
            return "budget"
        if self.stale >= stop.patience:
            return "no_improvement"
        return None

    def result(self) -> SearchResult:
        assert self.best_z is not None and self.reason is not None
        return SearchResult(
            best_z=self.best_z,
            best_loss=self.best_loss,
            best_success=self.best_success,
            best_extra=self.best_extra,
            queries=self.queries,
            generations=len(self.history),
            stop_reason=self.reason,
            history=tuple(self.history),
            seconds=self.seconds,
            first_success_queries=self.first_success,
        )


def minimize_lockstep(
    objective_many: ObjectiveMany,
    searches: list[Search],
    stop: StopRule,
    *,
    row_cap: int | None = None,
) -> list[SearchResult]:
    """Run independent searches together: one `objective_many(asks, owners)` call per generation.

    Each generation collects the asks of the searches still running and passes them as a list,
    with `owners[i]` the index in `searches` of the search that asked `asks[i]` (the caller
    concatenates them into one model batch and splits the scores back); each search stops on its
    own. With `row_cap`, no search scores more than that many rows in all: an ask that would pass
    it is trimmed (the search is told +inf for the rows cut) and the search then stops on "budget".
    Results come back in the order of `searches`. Give every search its own Generator: then each
    result equals that of a separate `minimize` run.
    """
    if row_cap is not None and row_cap < 1:
        raise ArgumentError(f"row_cap must be at least 1 row, got {row_cap}")
    runs = [_Progress(search, stop, row_cap) for search in searches]
    active = list(enumerate(runs))
    start = time.perf_counter()
    while active:
        asked = [run.ask() for _, run in active]
        scored = [rows for _, rows in asked]
        evaluations = list(objective_many(scored, [owner for owner, _ in active]))
        if len(evaluations) != len(scored):
            raise ArgumentError(
                f"objective_many returned {len(evaluations)} evaluations for {len(scored)} asks"
            )
        for (_, run), (full, rows), raw in zip(active, asked, evaluations, strict=True):
            run.tell(full, rows, raw)
            if run.reason is not None:
                run.seconds = time.perf_counter() - start
        active = [(owner, run) for owner, run in active if run.reason is None]
    return [run.result() for run in runs]


def minimize(objective: Objective, search: Search, stop: StopRule) -> SearchResult:
    """Run one search until `stop` says so; the objective is called once per generation."""
    return minimize_lockstep(lambda asks, owners: [objective(asks[0])], [search], stop)[0]
