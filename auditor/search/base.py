"""Ask/tell protocol for zero-order searches, with budgets counted in model queries.

A search proposes a population (`Search.ask`), the caller scores it as ONE batch, and the search
learns from the losses (`Search.tell`). `minimize` runs that loop under a `StopRule`, tracks the
best row ever evaluated and keeps a per-generation history; `minimize_lockstep` runs independent
searches side by side so that each generation is a single call of the objective.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from auditor.errors import AuditorError

StopReason = Literal["target_reached", "budget", "no_improvement", "all_nonfinite"]
METHODS = ("momentum_es", "es", "cmaes", "random")


class SearchError(AuditorError, ValueError):
    """A search was configured or driven wrongly; the message says what to change."""


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What an objective returns for n rows: loss (lower is better), success flags, extras.

    Non-finite losses count as +inf and such rows never count as successes. `extra` holds
    optional per-row arrays (e.g. probabilities); the best row's entries are kept.
    """

    loss: np.ndarray
    success: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


Objective = Callable[[np.ndarray], Evaluation]
ObjectiveMany = Callable[[list[np.ndarray]], list[Evaluation]]


class Search(Protocol):
    """Ask/tell search; its randomness comes only from the Generator given at construction.

    `ask` returns only rows that need evaluating (cached elites are not asked again); `tell`
    pairs with the latest `ask`.
    """

    dim: int

    def ask(self) -> np.ndarray: ...

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None: ...


@dataclass(frozen=True)
class Generation:
    """One history row: best loss so far, this generation's median loss, cumulative queries."""

    index: int
    best_loss: float
    median_loss: float
    queries: int
    nonfinite: int


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Outcome of one search: the best row ever evaluated and how the search ended."""

    best_z: np.ndarray
    best_loss: float
    best_success: bool
    best_extra: dict[str, np.ndarray]
    queries: int
    generations: int
    stop_reason: StopReason
    history: tuple[Generation, ...]
    seconds: float
    first_success_queries: int | None


@dataclass(frozen=True)
class StopRule:
    """When a search ends; checked after every generation in the order of the fields below.

    - success: with `success_rule="best"`, when the best-loss row evaluated so far is a success;
      with `"all"`, when every row of the latest generation is (paper 1's stricter test);
    - `all_nonfinite`: every row of one generation had a non-finite loss;
    - budget: `budget` queries spent (the last generation may overshoot by less than its size);
    - no improvement: the best loss has not improved by more than `min_delta` for `patience`
      generations.
    """

    budget: int = 20_000
    patience: int = 50
    min_delta: float = 1e-4
    stop_on_success: bool = True
    success_rule: Literal["best", "all"] = "best"

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise SearchError(f"budget must be at least 1 query, got {self.budget}")
        if self.patience < 1:
            raise SearchError(f"patience must be at least 1 generation, got {self.patience}")
        if not self.min_delta >= 0:
            raise SearchError(f"min_delta must be >= 0, got {self.min_delta}")
        if self.success_rule not in ("best", "all"):
            raise SearchError(f"success_rule must be 'best' or 'all', got {self.success_rule!r}")


def centre_point(x0: np.ndarray | None, dim: int) -> np.ndarray:
    """x0 as a float64 vector of length dim (zeros when None)."""
    if x0 is None:
        return np.zeros(dim)
    point = np.asarray(x0, dtype=np.float64)
    if point.shape != (dim,) or not np.isfinite(point).all():
        raise SearchError(f"x0 must be a finite vector of length {dim}, got shape {point.shape}")
    return point


def box_bounds(
    bounds: tuple[np.ndarray | float, np.ndarray | float] | None, dim: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(lower, upper) broadcast to length dim, checked lower <= upper (infinite sides allowed)."""
    if bounds is None:
        return None
    if len(bounds) != 2:
        raise SearchError("bounds must be a pair (lower, upper)")
    try:
        lower, upper = (np.broadcast_to(np.asarray(b, dtype=np.float64), (dim,)).copy() for b in bounds)
    except ValueError as exc:
        raise SearchError(f"bounds must be scalars or vectors of length {dim}") from exc
    if np.isnan(lower).any() or np.isnan(upper).any() or not (lower <= upper).all():
        raise SearchError("bounds must satisfy lower <= upper in every coordinate")
    return lower, upper


def check_positive(name: str, value: float) -> None:
    """Raise SearchError unless value is a finite number > 0."""
    if not (np.isfinite(value) and value > 0):
        raise SearchError(f"{name} must be a finite number > 0, got {value}")


def check_told(z: np.ndarray, asked: np.ndarray | None) -> None:
    """Raise SearchError unless z has the shape of the latest ask."""
    if asked is None:
        raise SearchError("tell() was called without a matching ask()")
    if np.shape(z) != asked.shape:
        raise SearchError(f"tell() got {np.shape(z)} rows, the latest ask() gave {asked.shape}")


def _sanitised(evaluation: Evaluation, rows: int) -> tuple[Evaluation, int]:
    """Evaluation with float64 losses (non-finite -> +inf) and bool successes; also the count."""
    loss = np.asarray(evaluation.loss, dtype=np.float64)
    success = np.asarray(evaluation.success, dtype=bool)
    if loss.shape != (rows,) or success.shape != (rows,):
        raise SearchError(
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


class _Run:
    """Book-keeping for one search: best row, history, stopping state."""

    def __init__(self, search: Search, stop: StopRule) -> None:
        self.search = search
        self.stop = stop
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
        if self.queries >= stop.budget:
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


def _asked(search: Search) -> np.ndarray:
    z = np.asarray(search.ask(), dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] != search.dim:
        raise SearchError(f"ask() must return (n, {search.dim}) rows, got shape {z.shape}")
    return z


def minimize_lockstep(
    objective_many: ObjectiveMany, searches: list[Search], stop: StopRule
) -> list[SearchResult]:
    """Run independent searches together: one `objective_many` call per generation.

    Each generation collects the asks of the searches still running and passes them as a list
    (the caller concatenates them into one model batch and splits the scores back); each search
    stops on its own. Results come back in the order of `searches`. Give every search its own
    Generator: then each result equals that of a separate `minimize` run.
    """
    runs = [_Run(search, stop) for search in searches]
    active = runs
    start = time.perf_counter()
    while active:
        asks = [_asked(run.search) for run in active]
        evaluations = list(objective_many(asks))
        if len(evaluations) != len(asks):
            raise SearchError(f"objective_many returned {len(evaluations)} evaluations for {len(asks)} asks")
        for run, z, raw in zip(active, asks, evaluations, strict=True):
            evaluation, nonfinite = _sanitised(raw, z.shape[0])
            run.search.tell(z, evaluation)
            run.record(z, evaluation, nonfinite)
            if run.reason is not None:
                run.seconds = time.perf_counter() - start
        active = [run for run in active if run.reason is None]
    return [run.result() for run in runs]


def minimize(objective: Objective, search: Search, stop: StopRule) -> SearchResult:
    """Run one search until `stop` says so; the objective is called once per generation."""
    return minimize_lockstep(lambda asks: [objective(asks[0])], [search], stop)[0]


@functools.cache
def _option_names(cls: type) -> frozenset[str]:
    """A search class's own keyword options, read from its signature once (inspect costs ~0.3 ms)."""
    return frozenset(inspect.signature(cls).parameters) - {"dim", "rng", "x0", "sigma", "bounds", "popsize"}


def make_search(
    method: str,
    dim: int,
    rng: np.random.Generator,
    *,
    popsize: int | None = None,
    x0: np.ndarray | None = None,
    sigma: float | None = None,
    bounds: tuple[np.ndarray | float, np.ndarray | float] | None = None,
    **options: object,
) -> Search:
    """Build a search by name: "momentum_es" (alias "es"), "cmaes" or "random".

    `popsize` is the number of rows asked per generation; for momentum ES it sets
    elites = popsize / children (after the initial population). `sigma` and `x0` mean the
    step size and the start point in every method; method-specific `options` go to the class.
    """
    from auditor.search.cma import CMAES
    from auditor.search.momentum_es import MomentumES
    from auditor.search.random import RandomSearch

    if not isinstance(rng, np.random.Generator):
        raise SearchError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
        raise SearchError(f"dim must be a positive integer, got {dim!r}")
    classes: dict[str, type] = {
        "momentum_es": MomentumES,
        "es": MomentumES,
        "cmaes": CMAES,
        "random": RandomSearch,
    }
    if method not in classes:
        raise SearchError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")
    cls = classes[method]
    allowed = _option_names(cls)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise SearchError(
            f"{method}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    kwargs: dict[str, object] = {"x0": x0, "bounds": bounds, **options}
    if sigma is not None:
        kwargs["sigma"] = sigma
    if popsize is not None:
        if cls is MomentumES:
            if "elites" in options:
                raise SearchError("momentum_es: give popsize or elites, not both")
            children = options.get("children", 2)
            if not isinstance(children, int) or popsize < children or popsize % children:
                raise SearchError(
                    f"momentum_es: popsize {popsize} must be a multiple of children ({children})"
                )
            kwargs["elites"] = popsize // children
        else:
            kwargs["popsize"] = popsize
    return cls(int(dim), rng, **kwargs)
