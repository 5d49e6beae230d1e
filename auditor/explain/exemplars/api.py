"""`exemplars`: the searches of every target class, restart by restart, each round in lockstep."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from auditor.errors import ArgumentError
from auditor.explain.exemplars.objective import Scorer, scorer
from auditor.explain.exemplars.params import ExemplarParams
from auditor.explain.exemplars.results import ClassExemplars, Exemplar, ExemplarSet
from auditor.explain.exemplars.space import SearchSpace
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Generator
from auditor.search import Evaluation, Search, SearchResult, StopRule, make_search, minimize_lockstep

DEFAULT_PARAMS = ExemplarParams()


def exemplars(
    blackbox: BlackBox,
    generator: Generator | None,
    targets: int | Sequence[int] | None = None,
    *,
    reference: np.ndarray | None = None,
    params: ExemplarParams = DEFAULT_PARAMS,
    rng: np.random.Generator | int,
) -> ExemplarSet:
    """Find `params.per_class` exemplars per target class (None: every class); see `ExemplarParams`.

    Restart r of every target runs in round r, all in lockstep (one generator call and one classifier
    call per generation); rows too close to an exemplar of an earlier round are rejected. Without a
    generator, `reference` rows set the box and the scale of an input-space search.
    """
    started = time.perf_counter()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    classes = _targets(targets, blackbox.n_classes)
    space = SearchSpace(blackbox, generator, reference)
    min_distance = float(np.sqrt(2 * space.dim) / 4) if params.min_distance is None else params.min_distance
    per_class = params.per_class
    streams = _streams(
        rng, [target * per_class + restart for restart in range(per_class) for target in classes]
    )
    # Any strict improvement counts: near p = 0.9999 the Brier loss moves by ~1e-8 per step.
    stop = StopRule(budget=params.budget, patience=params.patience, min_delta=0.0)
    calls, generated, ort_seconds = blackbox.calls, space.generated, space.ort_seconds
    found: dict[int, list[Exemplar]] = {target: [] for target in classes}
    for restart in range(per_class):
        searches: list[Search] = []
        scorers: list[Scorer] = []
        for target in classes:
            searches.append(
                make_search(
                    params.method,
                    space.dim,
                    streams[target * per_class + restart],
                    popsize=params.popsize,
                    bounds=space.bounds,
                    sigma=space.sigma_for(params.method, params.sigma),
                    **space.prior_options(params.method),
                )
            )
            repel = np.array([exemplar.latent for exemplar in found[target]]).reshape(-1, space.dim)
            scorers.append(
                scorer(target, params.objective, params.threshold, params.prior_penalty, repel, min_distance)
            )
        for target, result in zip(classes, _lockstep(space, searches, scorers, stop), strict=True):
            found[target].append(_exemplar(target, blackbox.class_names[target], restart, result))
    return ExemplarSet(
        method=params.method,
        objective=params.objective,
        threshold=params.threshold,
        budget=params.budget,
        space=space.kind,
        classes=tuple(
            _class_exemplars(target, blackbox.class_names[target], found[target]) for target in classes
        ),
        queries=sum(exemplar.queries for target in classes for exemplar in found[target]),
        generator_queries=space.generated - generated,
        calls=blackbox.calls - calls,
        seconds=time.perf_counter() - started,
        ort_seconds=space.ort_seconds - ort_seconds,
        layout=blackbox.layout,
    )


def _lockstep(
    space: SearchSpace, searches: list[Search], scorers: list[Scorer], stop: StopRule
) -> list[SearchResult]:
    """Run the searches together: every generation is ONE generator call and ONE classifier call."""

    def evaluate(asks: list[np.ndarray], owners: Sequence[int]) -> list[Evaluation]:
        z = np.concatenate(asks)
        x = space.decode(z)
        probs = space.blackbox.predict(
            x, cache=False
        )  # searches ask only new rows: nothing for the row cache
        edges = np.cumsum([0, *(len(ask) for ask in asks)])
        return [
            scorers[owner](z[lo:hi], x[lo:hi], probs[lo:hi])
            for owner, lo, hi in zip(owners, edges[:-1], edges[1:], strict=True)
        ]

    return minimize_lockstep(evaluate, searches, stop)


def _targets(targets: int | Sequence[int] | None, n_classes: int) -> list[int]:
    if targets is None:
        return list(range(n_classes))
    chosen = [targets] if isinstance(targets, int | np.integer) else list(targets)
    if not chosen:
        raise ArgumentError("no target classes given")
    for target in chosen:
        if (
            isinstance(target, bool)
            or not isinstance(target, int | np.integer)
            or not 0 <= target < n_classes
        ):
            raise ArgumentError(f"target {target!r} is not a class index of this model (0..{n_classes - 1})")
    if len(set(chosen)) != len(chosen):
        raise ArgumentError("each target class may be given only once")
    return [int(target) for target in chosen]


def _streams(rng: np.random.Generator, keys: list[int]) -> dict[int, np.random.Generator]:
    """Child streams numbered `keys` of one fresh spawn of `rng`, built only for those keys.

    So target t, restart r always draws from the same stream, whichever other targets are searched.
    """
    (base,) = rng.bit_generator.seed_seq.spawn(1)  # type: ignore[attr-defined]
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


def _exemplar(target: int, target_name: str, restart: int, result: SearchResult) -> Exemplar:
    probabilities = result.best_extra["probabilities"]
    return Exemplar(
        target=target,
        target_name=target_name,
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
    z = np.stack([exemplar.latent for exemplar in found])
    distances = np.sqrt(((z[:, None, :] - z[None]) ** 2).sum(axis=2))[np.triu_indices(len(z), 1)]
    return ClassExemplars(target, name, tuple(found), float(distances.mean()), float(distances.min()))
