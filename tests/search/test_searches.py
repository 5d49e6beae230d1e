"""Specification of the three searches: they find known minima within stated budgets, seeded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from auditor.errors import ArgumentError
from auditor.search import (
    CMAES,
    METHODS,
    Evaluation,
    MomentumES,
    RandomSearch,
    StopRule,
    canonical_method,
    make_search,
    minimize,
)

Loss = Callable[[np.ndarray], np.ndarray]


def sphere(z: np.ndarray) -> np.ndarray:
    return np.sum(z**2, axis=1)


ELLIPSOID_SHIFT = np.linspace(-1.0, 1.0, 8)
ELLIPSOID_WEIGHTS = 10.0 ** (3 * np.arange(8) / 7)  # condition number 1e3


def shifted_ellipsoid(z: np.ndarray) -> np.ndarray:
    return np.sum(ELLIPSOID_WEIGHTS * (z - ELLIPSOID_SHIFT) ** 2, axis=1)


RASTRIGIN_SHIFT = np.array([0.5, -0.7])


def shifted_rastrigin(z: np.ndarray) -> np.ndarray:
    u = z - RASTRIGIN_SHIFT
    return 10 * u.shape[1] + np.sum(u**2 - 10 * np.cos(2 * np.pi * u), axis=1)


def below(loss: Loss, target: float) -> Callable[[np.ndarray], Evaluation]:
    """Objective whose success is `loss < target`."""

    def objective(z: np.ndarray) -> Evaluation:
        values = loss(z)
        return Evaluation(values, values < target, {"twice": 2 * values})

    return objective


# (function, optimum, method, make_search kwargs, target loss, budget). Momentum ES has a fixed
# step size (no adaptation, as in the paper), so its reachable precision scales with sigma.
CASES = [
    ("sphere", sphere, np.zeros(10), "momentum_es", {"sigma": 0.2}, 0.1, 3_000),
    ("sphere", sphere, np.zeros(10), "cmaes", {"x0": np.full(10, 2.0), "sigma": 1.0}, 1e-3, 3_000),
    ("sphere", sphere, np.zeros(2), "random", {}, 1e-2, 2_000),
    ("ellipsoid", shifted_ellipsoid, ELLIPSOID_SHIFT, "momentum_es", {"sigma": 0.05}, 0.3, 15_000),
    ("ellipsoid", shifted_ellipsoid, ELLIPSOID_SHIFT, "cmaes", {}, 1e-3, 4_000),
    ("rastrigin", shifted_rastrigin, RASTRIGIN_SHIFT, "momentum_es", {}, 1e-2, 20_000),
    (
        "rastrigin",
        shifted_rastrigin,
        RASTRIGIN_SHIFT,
        "cmaes",
        {"x0": np.array([3.0, 3.0]), "sigma": 2.0},
        1e-3,
        6_000,
    ),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("name", "loss", "optimum", "method", "kwargs", "target", "budget"),
    CASES,
    ids=[f"{case[0]}-{case[3]}" for case in CASES],
)
def test_finds_the_minimum_within_budget(
    name: str,
    loss: Loss,
    optimum: np.ndarray,
    method: str,
    kwargs: dict,
    target: float,
    budget: int,
    seed: int,
) -> None:
    search = make_search(method, optimum.size, np.random.default_rng(seed), **kwargs)
    result = minimize(below(loss, target), search, StopRule(budget=budget, patience=10**6))
    assert result.stop_reason == "target_reached"
    assert result.best_success and result.best_loss < target
    assert result.queries <= budget
    assert result.first_success_queries is not None and result.first_success_queries <= result.queries
    assert float(loss(result.best_z[None])[0]) == result.best_loss
    np.testing.assert_allclose(result.best_extra["twice"], 2 * result.best_loss)
    # loss < target bounds the distance to the optimum (all weights >= 1; Rastrigin is locally >= |u|^2)
    assert np.linalg.norm(result.best_z - optimum) < np.sqrt(target) + 1e-9


@pytest.mark.parametrize("method", ["momentum_es", "cmaes", "random"])
def test_same_seed_gives_identical_results(method: str) -> None:
    def run(seed: int):
        search = make_search(method, 6, np.random.default_rng(seed))
        return minimize(below(sphere, 1e-9), search, StopRule(budget=600, patience=10**6))

    first, again, other = run(7), run(7), run(8)
    assert np.array_equal(first.best_z, again.best_z)
    assert first.history == again.history
    assert (first.best_loss, first.queries, first.stop_reason) == (
        again.best_loss,
        again.queries,
        again.stop_reason,
    )
    assert not np.array_equal(first.best_z, other.best_z)


def test_momentum_es_caches_elites_and_counts_queries() -> None:
    search = MomentumES(4, np.random.default_rng(0))
    sizes = []
    for _ in range(4):
        z = search.ask()
        sizes.append(z.shape[0])
        search.tell(z, Evaluation(sphere(z), np.zeros(len(z), dtype=bool)))
    assert sizes == [50, 20, 20, 20]
    assert search.elite_z.shape == (10, 4)
    assert np.all(np.diff(search.elite_loss) >= 0)
    np.testing.assert_array_equal(search.elite_loss, sphere(search.elite_z))  # cached, not re-asked
    result = minimize(below(sphere, -1.0), MomentumES(4, np.random.default_rng(0)), StopRule(budget=130))
    assert [g.queries for g in result.history] == [50, 70, 90, 110, 130]


def test_momentum_es_mutation_follows_the_paper() -> None:
    """Children of an initial parent move by N(0, sigma^2); later children by mu*v + (1-mu)*N(0, sigma^2)."""
    sigma, mu, children = 0.5, 0.3, 20_000
    search = MomentumES(
        3, np.random.default_rng(1), init_size=1, elites=1, children=children, sigma=sigma, momentum=mu
    )
    parent = search.ask()
    search.tell(parent, Evaluation(np.zeros(1), np.zeros(1, dtype=bool)))
    assert not search.elite_moving.any()
    first = search.ask()
    step = first - parent
    np.testing.assert_allclose(step.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose(step.std(axis=0), sigma, rtol=0.03)
    loss = np.ones(children)
    loss[0] = -1.0  # the first child becomes the only elite
    search.tell(first, Evaluation(loss, np.zeros(children, dtype=bool)))
    assert search.elite_moving.all()
    np.testing.assert_allclose(search.elite_velocity[0], step[0], rtol=1e-12)
    second = search.ask() - first[0]
    np.testing.assert_allclose(second.mean(axis=0), mu * step[0], atol=0.02)
    np.testing.assert_allclose(second.std(axis=0), (1 - mu) * sigma, rtol=0.03)


def test_momentum_es_uniform_init_box() -> None:
    z = MomentumES(5, np.random.default_rng(0), init="uniform", init_box=5.0).ask()
    assert z.shape == (50, 5) and np.abs(z).max() <= 5.0 and np.abs(z).max() > 4.0


@pytest.mark.parametrize("method", ["momentum_es", "cmaes", "random"])
def test_x0_centres_the_search(method: str) -> None:
    x0 = np.full(3, 10.0)
    z = make_search(method, 3, np.random.default_rng(0), x0=x0, sigma=0.1).ask()
    assert np.abs(z - x0).max() < 1.0


@pytest.mark.parametrize("method", ["momentum_es", "cmaes", "random"])
def test_bounds_are_respected(method: str) -> None:
    lower, upper = np.array([-0.5, 0.0, 1.0]), np.array([0.5, 2.0, 1.5])
    search = make_search(method, 3, np.random.default_rng(0), sigma=1.0, bounds=(lower, upper))
    for _ in range(5):
        z = search.ask()
        assert np.all(z >= lower) and np.all(z <= upper)
        search.tell(z, Evaluation(sphere(z), np.zeros(len(z), dtype=bool)))


def test_cmaes_goes_diagonal_in_high_dimension() -> None:
    assert CMAES(101, np.random.default_rng(0)).es.opts["CMA_diagonal"] is True
    assert CMAES(100, np.random.default_rng(0)).es.opts["CMA_diagonal"] == 0
    assert CMAES(16, np.random.default_rng(0), diagonal=True).es.opts["CMA_diagonal"] is True


def test_cmaes_popsize_and_nonfinite_tell() -> None:
    search = make_search("cmaes", 4, np.random.default_rng(0), popsize=12)
    z = search.ask()
    assert z.shape == (12, 4)
    loss = sphere(z)
    loss[:3] = [np.nan, np.inf, -np.inf]
    search.tell(z, Evaluation(loss, np.zeros(12, dtype=bool)))
    assert np.isfinite(search.ask()).all()


def test_cmaes_restarts_when_cma_terminates() -> None:
    search = CMAES(3, np.random.default_rng(0), popsize=8)
    for _ in range(3):  # flat fitness: cma's tolfun fires at once
        z = search.ask()
        search.tell(z, Evaluation(np.zeros(8), np.zeros(8, dtype=bool)))
    assert search.restarts == 3 and search.last_termination  # e.g. {"tolfun": 1e-11}
    assert search.ask().shape == (8, 3)


def test_cmaes_leaves_global_rng_and_disk_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    minimize(below(sphere, -1.0), make_search("cmaes", 5, np.random.default_rng(0)), StopRule(budget=320))
    assert np.random.random() == expected
    assert list(tmp_path.iterdir()) == []


def test_random_search_draws_fresh_prior_samples() -> None:
    search = RandomSearch(4, np.random.default_rng(0), popsize=5000)
    z = search.ask()
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=0.05)
    search.tell(z, Evaluation(sphere(z), np.zeros(5000, dtype=bool)))
    assert not np.array_equal(search.ask(), z)


def test_make_search_names_and_errors() -> None:
    rng = np.random.default_rng(0)
    assert isinstance(make_search("es", 3, rng), MomentumES)
    assert isinstance(make_search("momentum_es", 3, rng, init="uniform"), MomentumES)
    assert isinstance(make_search("cmaes", 3, rng), CMAES)
    assert isinstance(make_search("random", 3, rng), RandomSearch)
    es = make_search("es", 3, rng, popsize=32)
    assert isinstance(es, MomentumES) and es.elites * es.children == 32
    with pytest.raises(ArgumentError, match="unknown search method"):
        make_search("nevergrad", 3, rng)
    with pytest.raises(ArgumentError, match="unknown option"):
        make_search("cmaes", 3, rng, elites=4)
    with pytest.raises(ArgumentError, match="multiple of children"):
        make_search("es", 3, rng, popsize=31)
    with pytest.raises(ArgumentError, match="x0"):
        make_search("random", 3, rng, x0=np.zeros(4))
    with pytest.raises(ArgumentError, match="lower <= upper"):
        make_search("random", 3, rng, bounds=(1.0, 0.0))
    with pytest.raises(ArgumentError, match="sigma"):
        make_search("cmaes", 3, rng, sigma=0.0)
    with pytest.raises(ArgumentError, match="lower < upper"):
        make_search("cmaes", 3, rng, bounds=(0.0, np.array([1.0, 0.0, 1.0])))
    with pytest.raises(ArgumentError, match="Generator"):
        make_search("random", 3, 0)  # type: ignore[arg-type]
    assert issubclass(ArgumentError, ValueError)


def test_the_registry_owns_the_method_names() -> None:
    rng = np.random.default_rng(0)
    assert canonical_method("es") == "momentum_es" and canonical_method("cmaes") == "cmaes"
    for method in METHODS:  # every listed name builds the strategy its canonical name names
        assert type(make_search(method, 2, rng)) is type(make_search(canonical_method(method), 2, rng))
    with pytest.raises(ArgumentError, match="choose one of momentum_es, es, cmaes, random"):
        canonical_method("adam")


def test_tell_must_answer_the_latest_ask() -> None:
    search = MomentumES(2, np.random.default_rng(0))
    with pytest.raises(ArgumentError, match="without a matching ask"):
        search.tell(np.zeros((50, 2)), Evaluation(np.zeros(50), np.zeros(50, dtype=bool)))
    search.ask()
    with pytest.raises(ArgumentError, match="latest ask"):
        search.tell(np.zeros((3, 2)), Evaluation(np.zeros(3), np.zeros(3, dtype=bool)))


def test_module_names_do_not_shadow_top_level_packages() -> None:
    import random
    import sys

    import auditor.search.cma
    import auditor.search.random

    CMAES(2, np.random.default_rng(0))  # imports the top-level `cma` lazily
    assert sys.modules["cma"] is not auditor.search.cma
    assert hasattr(sys.modules["cma"], "CMAEvolutionStrategy")
    assert random is not auditor.search.random and hasattr(random, "Random")
