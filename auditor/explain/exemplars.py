"""Class exemplars by zero-order search: inputs that a black box scores as a chosen class.

Follows Barbalau et al., "A Generic and Model-Agnostic Exemplar Synthetization Framework for
Explainable AI" (ECML-PKDD 2020): search a generator's latent space, querying only the classifier,
until the target probability reaches a threshold. With no generator, the search runs in the input
space of tabular rows, inside the box of the reference data's per-feature ranges. All targets of
one round share each generation's batch: one generator call, one classifier call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from auditor.errors import ConfigError, DataError
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Generator
from auditor.search import (
    METHODS,
    Evaluation,
    Generation,
    Search,
    SearchResult,
    StopReason,
    StopRule,
    make_search,
    minimize_lockstep,
)

OBJECTIVES = ("brier", "margin")
DEFAULT_BUDGET = 20_000
DEFAULT_PATIENCE = 50
# Probabilities are clipped here before logs: float32's smallest normal number.
TINY = float(np.finfo(np.float32).tiny)
# The worst value each objective can take; rows too close to an earlier exemplar score above it.
WORST = {"brier": 2.0, "margin": float(-np.log(TINY))}
UNIFORM_STD = float(1 / np.sqrt(3))  # of U(-1, 1)


@dataclass(frozen=True, eq=False)
class Exemplar:
    """One search's best row: its latent vector, the classifier input it decodes to, and its scores.

    `latent` is the search vector: a generator latent, or standardized features without a generator.
    `input` is the row as sent to the classifier (its layout); `success` means p_target >= threshold
    and at least `min_distance` from the earlier exemplars of the same target.
    """

    target: int
    restart: int
    latent: np.ndarray
    input: np.ndarray
    probabilities: np.ndarray
    confidence: float
    success: bool
    queries: int
    seconds: float
    stop_reason: StopReason
    first_success_queries: int | None
    history: tuple[Generation, ...]


@dataclass(frozen=True, eq=False)
class ClassExemplars:
    """The exemplars of one target class and how far apart they lie in latent space."""

    target: int
    target_name: str
    exemplars: tuple[Exemplar, ...]
    mean_distance: float  # mean pairwise latent distance (NaN with fewer than two exemplars)
    min_distance: float

    @property
    def latent(self) -> np.ndarray:
        return np.stack([e.latent for e in self.exemplars])

    @property
    def inputs(self) -> np.ndarray:
        return np.stack([e.input for e in self.exemplars])

    @property
    def probabilities(self) -> np.ndarray:
        return np.stack([e.probabilities for e in self.exemplars])

    @property
    def confidence(self) -> np.ndarray:
        return np.array([e.confidence for e in self.exemplars])

    @property
    def queries(self) -> int:
        return sum(e.queries for e in self.exemplars)


@dataclass(frozen=True, eq=False)
class ExemplarSet:
    """Exemplars for several targets, with the totals of the whole run.

    `queries` counts the classifier rows the searches scored (all new rows: the row cache is bypassed),
    `calls` classifier ONNX Runtime runs, `ort_seconds` the time inside ONNX Runtime (classifier plus
    generator) out of `seconds` of wall time.
    """

    method: str
    objective: str
    threshold: float
    budget: int
    space: Literal["latent", "input"]
    classes: tuple[ClassExemplars, ...]
    queries: int
    generator_queries: int
    calls: int
    seconds: float
    ort_seconds: float

    @property
    def success(self) -> bool:
        return all(e.success for c in self.classes for e in c.exemplars)


@dataclass(frozen=True, eq=False)
class InputBox:
    """Input-space search without a generator: standardized coordinates inside the data's ranges.

    Features that never vary in the reference data stay fixed at their value.
    """

    mean: np.ndarray
    scale: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    free: np.ndarray  # indices of the searched features

    @classmethod
    def from_reference(cls, reference: np.ndarray) -> InputBox:
        rows = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
        if len(rows) < 2 or not np.isfinite(rows).all():
            raise DataError(
                "the reference data needs at least two rows of finite values to set the search box"
            )
        lower, upper = rows.min(axis=0), rows.max(axis=0)
        free = np.flatnonzero(upper > lower)
        if free.size == 0:
            raise DataError("every feature is constant in the reference data; there is nothing to search")
        return cls(rows.mean(axis=0), rows.std(axis=0), lower, upper, free)

    @property
    def dim(self) -> int:
        return int(self.free.size)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The box in standardized coordinates."""
        return self.standardize(self.lower), self.standardize(self.upper)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        free = self.free
        return (np.asarray(x, dtype=np.float64)[..., free] - self.mean[free]) / self.scale[free]

    def decode(self, u: np.ndarray) -> np.ndarray:
        """Standardized coordinates (n, dim) -> rows (n, features), clipped to the box."""
        x = np.repeat(self.mean[None], len(u), axis=0)
        x[:, self.free] = self.mean[self.free] + u * self.scale[self.free]
        return np.clip(x, self.lower, self.upper).astype(np.float32)


class _Space:
    """Where the search runs: a generator's latent space, or an InputBox over tabular rows."""

    def __init__(self, blackbox: BlackBox, generator: Generator | None, reference: np.ndarray | None) -> None:
        self.blackbox = blackbox
        self.generator = generator
        self.box: InputBox | None = None
        if generator is not None:
            self.dim = generator.latent_dim
            self.bounds = (-1.0, 1.0) if generator.prior == "uniform" else None
            what = f"the generator's output {list(generator.output_shape)}"
            probe = np.zeros((1, *generator.output_shape), np.float32)
        else:
            if reference is None:
                raise ConfigError("without a generator, give reference rows (--data) to set the search box")
            self.box = InputBox.from_reference(reference)
            self.dim = self.box.dim
            self.bounds = self.box.bounds
            what = f"reference rows of {self.box.mean.size} features"
            probe = self.box.decode(np.zeros((1, self.dim)))
        try:
            blackbox.prepare(probe)
        except DataError:
            raise DataError(
                f"{what} do not fit the classifier's input {list(blackbox.input_shape)} ({blackbox.layout}); "
                "use a generator or data made for this model"
            ) from None

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Search vectors (n, dim) -> classifier rows in the model's own layout."""
        x = self.generator.generate(z) if self.generator is not None else self.box.decode(z)  # type: ignore[union-attr]
        return self.blackbox.prepare(x)

    def options(self, method: str, sigma: float | None) -> dict[str, object]:
        """Search settings matched to the prior: start from its whole spread, CMA-ES at its centre.

        CMA-ES starts at the prior's centre with a step of one prior standard deviation (a prior
        draw as x0 can sit where one class saturates, and the Brier loss is flat there).
        """
        uniform = self.generator is not None and self.generator.prior == "uniform"
        if method == "cmaes":
            return {"sigma": sigma if sigma is not None else (UNIFORM_STD if uniform else 1.0)}
        options: dict[str, object] = {"init": "uniform", "init_box": 1.0} if uniform else {}
        return options if sigma is None else {**options, "sigma": sigma}

    @property
    def generated(self) -> int:
        return self.generator.queries if self.generator is not None else 0

    @property
    def ort_seconds(self) -> float:
        return self.blackbox.ort_seconds + (self.generator.ort_seconds if self.generator is not None else 0.0)


Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], Evaluation]


def _scorer(
    target: int,
    objective: str,
    threshold: float,
    prior_penalty: float,
    repel: np.ndarray,
    min_distance: float,
) -> Scorer:
    """(latent rows, classifier rows, probabilities) -> loss and success for one target."""

    def score(z: np.ndarray, x: np.ndarray, p: np.ndarray) -> Evaluation:
        p = p.astype(np.float64)
        p_target = p[:, target]
        if objective == "brier":
            loss = np.sum(p**2, axis=1) - 2 * p_target + 1.0
        else:
            logs = np.log(np.clip(p, TINY, 1.0))
            loss = np.delete(logs, target, axis=1).max(axis=1) - logs[:, target]
        success = p_target >= threshold
        if repel.size and min_distance > 0:
            distance = np.sqrt(((z[:, None, :] - repel[None]) ** 2).sum(axis=2)).min(axis=1)
            close = distance < min_distance
            loss = np.where(close, WORST[objective] + 1.0 - distance / min_distance, loss)
            success &= ~close
        if prior_penalty:
            loss = loss + prior_penalty * np.sum(z**2, axis=1) / z.shape[1]
        return Evaluation(loss, success, {"probabilities": p, "input": x})

    return score


class _Tagged:
    """A search that notes its index in `order` when asked, so one batch can be split back by owner."""

    def __init__(self, search: Search, index: int, order: list[int]) -> None:
        self.search, self.index, self.order = search, index, order
        self.dim = search.dim

    def ask(self) -> np.ndarray:
        self.order.append(self.index)
        return self.search.ask()

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        self.search.tell(z, evaluation)


def _lockstep(
    space: _Space, searches: list[Search], scorers: list[Scorer], stop: StopRule
) -> list[SearchResult]:
    """Run the searches together: every generation is ONE generator call and ONE classifier call."""
    order: list[int] = []

    def evaluate(asks: list[np.ndarray]) -> list[Evaluation]:
        owners = order[-len(asks) :]
        order.clear()
        z = np.concatenate(asks)
        x = space.decode(z)
        p = space.blackbox.predict(x, cache=False)  # searches ask only new rows: nothing for the row cache
        edges = np.cumsum([0, *(len(a) for a in asks)])
        return [
            scorers[i](z[lo:hi], x[lo:hi], p[lo:hi])
            for i, lo, hi in zip(owners, edges[:-1], edges[1:], strict=True)
        ]

    tagged: list[Search] = [_Tagged(search, i, order) for i, search in enumerate(searches)]
    return minimize_lockstep(evaluate, tagged, stop)


def _targets(targets: int | Sequence[int] | None, n_classes: int) -> list[int]:
    if targets is None:
        return list(range(n_classes))
    chosen = [targets] if isinstance(targets, int | np.integer) else list(targets)
    if not chosen:
        raise ConfigError("no target classes given")
    for t in chosen:
        if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 0 <= t < n_classes:
            raise ConfigError(f"target {t!r} is not a class index of this model (0..{n_classes - 1})")
    if len(set(chosen)) != len(chosen):
        raise ConfigError("each target class may be given only once")
    return [int(t) for t in chosen]


def _streams(rng: np.random.Generator, keys: list[int]) -> dict[int, np.random.Generator]:
    """Child streams numbered `keys` of one fresh spawn of `rng`, built only for those keys.

    So target t, restart r always draws from the same stream, whichever other targets are searched.
    """
    (base,) = rng.bit_generator.seed_seq.spawn(1)
    kind = type(rng.bit_generator)
    return {
        key: np.random.Generator(
            kind(
                np.random.SeedSequence(
                    base.entropy, spawn_key=(*base.spawn_key, key), pool_size=base.pool_size
                )
            )
        )
        for key in keys
    }


def _exemplar(target: int, restart: int, result: SearchResult) -> Exemplar:
    probabilities = result.best_extra["probabilities"]
    return Exemplar(
        target=target,
        restart=restart,
        latent=result.best_z,
        input=result.best_extra["input"],
        probabilities=probabilities,
        confidence=float(probabilities[target]),
        success=result.best_success,
        queries=result.queries,
        seconds=result.seconds,
        stop_reason=result.stop_reason,
        first_success_queries=result.first_success_queries,
        history=result.history,
    )


def _class_exemplars(target: int, name: str, found: list[Exemplar]) -> ClassExemplars:
    if len(found) < 2:  # no pairs (and triu_indices alone costs more than the rest of this)
        return ClassExemplars(target, name, tuple(found), np.nan, np.nan)
    z = np.stack([e.latent for e in found])
    distances = np.sqrt(((z[:, None, :] - z[None]) ** 2).sum(axis=2))[np.triu_indices(len(z), 1)]
    return ClassExemplars(target, name, tuple(found), float(distances.mean()), float(distances.min()))


def exemplars(
    blackbox: BlackBox,
    generator: Generator | None,
    targets: int | Sequence[int] | None = None,
    *,
    n: int = 1,
    method: str = "momentum_es",
    budget: int = DEFAULT_BUDGET,
    rng: np.random.Generator | int,
    objective: str = "brier",
    threshold: float = 0.95,
    prior_penalty: float = 0.0,
    min_distance: float | None = None,
    reference: np.ndarray | None = None,
    patience: int = DEFAULT_PATIENCE,
    popsize: int | None = None,
    sigma: float | None = None,
) -> ExemplarSet:
    """Find `n` exemplars per target class (None: every class); `budget` is classifier queries per search.

    Restart r of every target runs in round r, all in lockstep; rows closer than `min_distance`
    (default sqrt(2d)/4, a quarter of the typical distance between two N(0, I) draws) to an
    exemplar of an earlier round are rejected. `prior_penalty` λ adds λ·||z||²/d to the loss.
    Without a generator, `reference` rows set the box and the scale of an input-space search.
    """
    started = time.perf_counter()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if method not in METHODS:
        raise ConfigError(f"unknown exemplar search method {method!r}; choose one of {', '.join(METHODS)}")
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be a probability in (0, 1), got {threshold}")
    if n < 1:
        raise ConfigError(f"n must be at least 1 exemplar per class, got {n}")
    if not (np.isfinite(prior_penalty) and prior_penalty >= 0):
        raise ConfigError(f"prior_penalty must be >= 0, got {prior_penalty}")
    classes = _targets(targets, blackbox.n_classes)
    space = _Space(blackbox, generator, reference)
    if min_distance is None:
        min_distance = float(np.sqrt(2 * space.dim) / 4)
    elif not (np.isfinite(min_distance) and min_distance >= 0):
        raise ConfigError(f"min_distance must be >= 0, got {min_distance}")

    streams = _streams(rng, [t * n + r for r in range(n) for t in classes])
    # Any strict improvement counts: near p = 0.9999 the Brier loss moves by ~1e-8 per step.
    stop = StopRule(budget=budget, patience=patience, min_delta=0.0)
    calls, generated, ort_seconds = blackbox.calls, space.generated, space.ort_seconds
    found: dict[int, list[Exemplar]] = {t: [] for t in classes}
    for restart in range(n):
        searches: list[Search] = []
        scorers: list[Scorer] = []
        for t in classes:
            stream = streams[t * n + restart]
            searches.append(
                make_search(
                    method,
                    space.dim,
                    stream,
                    popsize=popsize,
                    bounds=space.bounds,
                    **space.options(method, sigma),
                )
            )
            repel = np.array([e.latent for e in found[t]]).reshape(-1, space.dim)
            scorers.append(_scorer(t, objective, threshold, prior_penalty, repel, min_distance))
        for t, result in zip(classes, _lockstep(space, searches, scorers, stop), strict=True):
            found[t].append(_exemplar(t, restart, result))
    return ExemplarSet(
        method=method,
        objective=objective,
        threshold=threshold,
        budget=budget,
        space="input" if generator is None else "latent",
        classes=tuple(_class_exemplars(t, blackbox.class_names[t], found[t]) for t in classes),
        queries=sum(e.queries for t in classes for e in found[t]),
        generator_queries=space.generated - generated,
        calls=blackbox.calls - calls,
        seconds=time.perf_counter() - started,
        ort_seconds=space.ort_seconds - ort_seconds,
    )
