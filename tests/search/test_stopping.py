"""Specification of `minimize`/`minimize_lockstep`: stopping, budgets, best-so-far, non-finite rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import ArgumentError
from auditor.search import (
    Evaluation,
    StopRule,
    make_search,
    minimize,
    minimize_lockstep,
)
from auditor.search.registry import STRATEGIES

METHODS = list(STRATEGIES)  # each strategy once, aliases aside


def sphere(z: np.ndarray) -> np.ndarray:
    return np.sum(z**2, axis=1)


def never(z: np.ndarray) -> Evaluation:
    """Sphere loss, never a success."""
    return Evaluation(sphere(z), np.zeros(len(z), dtype=bool))


class Recorder:
    """Objective that records every batch and marks chosen rows of chosen generations."""

    def __init__(self, mark: dict[int, tuple[str, float]] | None = None) -> None:
        self.mark = mark or {}
        self.batches: list[np.ndarray] = []

    def __call__(self, z: np.ndarray) -> Evaluation:
        generation = len(self.batches)
        self.batches.append(z.copy())
        loss = sphere(z) + 1.0
        success = np.zeros(len(z), dtype=bool)
        if generation in self.mark:
            which, value = self.mark[generation]
            row = int(np.argmin(loss) if which == "best" else np.argmax(loss))
            loss[row] = value
            success[row] = True
        return Evaluation(loss, success, {"row": np.arange(len(z)) + 1000 * generation})


@pytest.mark.parametrize("method", METHODS)
def test_stops_when_the_best_member_succeeds_and_returns_it(method: str) -> None:
    objective = Recorder({3: ("best", -5.0)})  # one row of generation 3 succeeds, and it is the best
    result = minimize(objective, make_search(method, 4, np.random.default_rng(0)), StopRule())
    assert result.stop_reason == "target_reached" and result.generations == 4
    assert result.best_success and result.best_loss == -5.0
    row = int(result.best_extra["row"]) - 3000
    np.testing.assert_array_equal(result.best_z, objective.batches[3][row])
    before = result.history[2].queries
    assert result.first_success_queries == before + row + 1


@pytest.mark.parametrize("method", METHODS)
def test_a_success_that_is_not_the_best_member_does_not_stop(method: str) -> None:
    objective = Recorder({1: ("worst", 1e6)})  # a success, but the worst row of its batch
    result = minimize(objective, make_search(method, 4, np.random.default_rng(0)), StopRule(budget=400))
    assert result.stop_reason == "budget"
    assert not result.best_success
    assert result.first_success_queries is not None


@pytest.mark.parametrize("method", METHODS)
def test_returns_the_best_row_ever_evaluated(method: str) -> None:
    objective = Recorder()
    result = minimize(objective, make_search(method, 3, np.random.default_rng(2)), StopRule(budget=500))
    rows = np.concatenate(objective.batches)
    losses = sphere(rows) + 1.0
    assert result.best_loss == losses.min()
    np.testing.assert_array_equal(result.best_z, rows[np.argmin(losses)])
    assert [g.best_loss for g in result.history] == sorted(
        (g.best_loss for g in result.history), reverse=True
    )


def test_success_rule_all_needs_every_row_of_the_generation() -> None:
    def objective(z: np.ndarray) -> Evaluation:
        generation = len(seen)
        seen.append(generation)
        loss = sphere(z)
        success = np.ones(len(z), dtype=bool) if generation == 2 else loss == loss.min()
        return Evaluation(loss, success)

    seen: list[int] = []
    best = minimize(objective, make_search("random", 2, np.random.default_rng(0)), StopRule())
    seen = []
    strict = minimize(
        objective, make_search("random", 2, np.random.default_rng(0)), StopRule(success_rule="all")
    )
    assert best.stop_reason == strict.stop_reason == "target_reached"
    assert (best.generations, strict.generations) == (1, 3)


@settings(max_examples=12, derandomize=True, deadline=None, database=None)
@given(method=st.sampled_from(METHODS), budget=st.integers(min_value=1, max_value=700))
def test_budget_is_never_exceeded_by_more_than_one_generation(method: str, budget: int) -> None:
    search = make_search(method, 5, np.random.default_rng(budget))
    result = minimize(never, search, StopRule(budget=budget, patience=10**6, min_delta=0.0))
    assert result.stop_reason == "budget"
    spent = [0, *(g.queries for g in result.history)]
    last = spent[-1] - spent[-2]
    assert budget <= result.queries < budget + last
    assert spent[-2] < budget


def test_no_improvement_stops_after_patience_generations() -> None:
    def flat(z: np.ndarray) -> Evaluation:
        return Evaluation(np.ones(len(z)), np.zeros(len(z), dtype=bool))

    result = minimize(flat, make_search("random", 2, np.random.default_rng(0)), StopRule(patience=5))
    assert result.stop_reason == "no_improvement" and result.generations == 6


def test_improvements_below_min_delta_do_not_count() -> None:
    calls = iter(range(1000))

    def creeping(z: np.ndarray) -> Evaluation:
        return Evaluation(np.full(len(z), 1.0 - 1e-6 * next(calls)), np.zeros(len(z), dtype=bool))

    result = minimize(
        creeping, make_search("random", 2, np.random.default_rng(0)), StopRule(patience=3, min_delta=1e-3)
    )
    assert result.stop_reason == "no_improvement" and result.generations == 4
    assert result.best_loss == 1.0 - 3e-6


@pytest.mark.parametrize("method", METHODS)
def test_nonfinite_rows_are_counted_and_never_best(method: str) -> None:
    def half_broken(z: np.ndarray) -> Evaluation:
        loss = sphere(z)
        loss[z[:, 0] > 0] = np.nan
        loss[z[:, 1] > 1] = np.inf
        return Evaluation(loss, np.ones(len(z), dtype=bool) & (z[:, 0] > 0))

    rows: list[int] = []

    def counted(z: np.ndarray) -> Evaluation:
        evaluation = half_broken(z)
        rows.append(int(np.count_nonzero(~np.isfinite(evaluation.loss))))
        return evaluation

    result = minimize(counted, make_search(method, 3, np.random.default_rng(0)), StopRule(budget=300))
    assert [g.nonfinite for g in result.history] == rows and sum(rows) > 0
    assert np.isfinite(result.best_loss) and result.best_z[0] <= 0
    assert not result.best_success and result.stop_reason == "budget"


@pytest.mark.parametrize("method", METHODS)
def test_all_nonfinite_generation_stops(method: str) -> None:
    def broken(z: np.ndarray) -> Evaluation:
        return Evaluation(np.full(len(z), np.nan), np.ones(len(z), dtype=bool))

    result = minimize(broken, make_search(method, 3, np.random.default_rng(0)), StopRule())
    assert result.stop_reason == "all_nonfinite" and result.generations == 1
    assert result.best_loss == np.inf and not result.best_success
    assert result.history[0].nonfinite == result.queries


def test_lockstep_equals_separate_runs_with_one_call_per_generation() -> None:
    stop = StopRule(budget=900, patience=8)
    specs = [("momentum_es", 11), ("cmaes", 12), ("random", 13), ("cmaes", 14)]

    def searches():
        return [make_search(method, 4, np.random.default_rng(seed)) for method, seed in specs]

    separate = [minimize(never, search, stop) for search in searches()]
    calls: list[list[int]] = []
    owners_seen: list[list[int]] = []

    def objective_many(asks: list[np.ndarray], owners: Sequence[int]) -> list[Evaluation]:
        calls.append([len(z) for z in asks])
        owners_seen.append(list(owners))
        scores = never(np.concatenate(asks))  # one model batch, split back
        cuts = np.cumsum([len(z) for z in asks])[:-1]
        return [
            Evaluation(loss, success)
            for loss, success in zip(np.split(scores.loss, cuts), np.split(scores.success, cuts), strict=True)
        ]

    together = minimize_lockstep(objective_many, searches(), stop)
    for alone, joint in zip(separate, together, strict=True):
        np.testing.assert_array_equal(alone.best_z, joint.best_z)
        assert alone.history == joint.history
        assert (alone.stop_reason, alone.queries, alone.generations) == (
            joint.stop_reason,
            joint.queries,
            joint.generations,
        )
    assert len(calls) == max(result.generations for result in together)
    assert [len(c) for c in calls] == [sum(r.generations > g for r in together) for g in range(len(calls))]
    # the owners name exactly the searches still running, in their order
    assert owners_seen == [
        [i for i, r in enumerate(together) if r.generations > g] for g in range(len(calls))
    ]


def test_owners_let_the_objective_score_each_search_its_own_way() -> None:
    centres = [np.full(3, -2.0), np.zeros(3), np.full(3, 2.0)]

    def objective_many(asks: list[np.ndarray], owners: Sequence[int]) -> list[Evaluation]:
        return [
            Evaluation(sphere(z - centres[owner]), np.zeros(len(z), dtype=bool))
            for z, owner in zip(asks, owners, strict=True)
        ]

    searches = [make_search("cmaes", 3, np.random.default_rng(seed)) for seed in range(3)]
    results = minimize_lockstep(objective_many, searches, StopRule(budget=3000, patience=10**6))
    for centre, result in zip(centres, results, strict=True):
        np.testing.assert_allclose(result.best_z, centre, atol=0.05)


@pytest.mark.parametrize("method", METHODS)
def test_row_cap_trims_the_last_generation_and_never_exceeds_the_cap(method: str) -> None:
    cap = 101  # not a multiple of any population size
    seen: list[int] = []

    def objective_many(asks: list[np.ndarray], owners: Sequence[int]) -> list[Evaluation]:
        seen.extend(len(z) for z in asks)
        return [never(z) for z in asks]

    searches = [make_search(method, 4, np.random.default_rng(seed)) for seed in range(2)]
    stop = StopRule(budget=cap, patience=10**6, min_delta=0.0)
    for result in minimize_lockstep(objective_many, searches, stop, row_cap=cap):
        assert result.queries == cap and result.stop_reason == "budget"
        assert result.history[-1].queries == cap
    assert sum(seen) == 2 * cap
    uncapped = minimize(never, make_search(method, 4, np.random.default_rng(0)), stop)
    assert uncapped.queries > cap  # without the cap the last generation overshoots
    with pytest.raises(ArgumentError, match="row_cap"):
        minimize_lockstep(objective_many, searches, stop, row_cap=0)


def test_objective_shape_errors_are_reported() -> None:
    search = make_search("random", 2, np.random.default_rng(0))
    with pytest.raises(ArgumentError, match="shape"):
        minimize(lambda z: Evaluation(np.zeros(len(z) + 1), np.zeros(len(z), dtype=bool)), search, StopRule())
    with pytest.raises(ArgumentError, match="evaluations"):
        minimize_lockstep(
            lambda asks, owners: [], [make_search("random", 2, np.random.default_rng(0))], StopRule()
        )


def test_stop_rule_is_validated() -> None:
    with pytest.raises(ArgumentError, match="budget"):
        StopRule(budget=0)
    with pytest.raises(ArgumentError, match="patience"):
        StopRule(patience=0)
    with pytest.raises(ArgumentError, match="success_rule"):
        StopRule(success_rule="worst")  # type: ignore[arg-type]
