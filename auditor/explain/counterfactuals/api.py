"""The public searches: `counterfactuals` for a batch of rows, `counterfactual` for one."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.counterfactuals.assembly import Batch, Searched, gather_results
from auditor.explain.counterfactuals.domain import Domain, FeatureConstraints
from auditor.explain.counterfactuals.engine import Run
from auditor.explain.counterfactuals.input_search import input_round
from auditor.explain.counterfactuals.input_space import InputSpace
from auditor.explain.counterfactuals.latent import LatentSpace, LatentStart, latent_round, latent_start
from auditor.explain.counterfactuals.measures import flat
from auditor.explain.counterfactuals.objective import Scoring, Task, new_task
from auditor.explain.counterfactuals.params import CounterfactualParams
from auditor.explain.counterfactuals.results import CounterfactualResult
from auditor.explain.counterfactuals.targets import Target, resolve_targets
from auditor.explain.image_bases import ImageBasis, uses_basis
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator
from auditor.model.signature import IMAGE_LAYOUTS

NO_CONSTRAINTS = FeatureConstraints()
DEFAULT_PARAMS = CounterfactualParams()

Round = Callable[[list[Task], list[np.random.Generator]], None]


def counterfactuals(
    blackbox: BlackBox,
    X: np.ndarray,
    target: Target = "second",
    *,
    generator: Generator | None = None,
    encoder: Encoder | None = None,
    reference: np.ndarray | None = None,
    constraints: FeatureConstraints = NO_CONSTRAINTS,
    params: CounterfactualParams = DEFAULT_PARAMS,
    rng: np.random.Generator | int = 0,
) -> list[CounterfactualResult]:
    """Counterfactuals for every row of X (model layout), all searched in lockstep (one model call per
    generation), returned in X's order; `params` says how (see `CounterfactualParams`).

    - target: a class index, "second" (each input's runner-up), "any" (any class but the predicted
      one), or one class per row. Valid means the model's top class is the target, with log-margin
      at least `params.kappa` and p_target >= `params.tau`.
    - `params.budget` is classifier queries per input, never exceeded; a budget too small to succeed
      returns results marked invalid (stop reason "budget"), never an error.
    - generator (+ encoder): search its latent space from z0 = encoder(x), else from a zero-order
      inversion of x. Without a generator: for images above `BASIS_MIN_VALUES` values with reference
      rows, x + G(z) − G(z0) in an `ImageBasis` fitted on them (smooth changes; the result's `space`
      names it, e.g. "dct-8x8"); otherwise input space under `constraints`.
    - reference: rows giving the per-feature scale (MAD), the box and the realism metric.
    """
    start_time = time.perf_counter()
    if encoder is not None and generator is None:
        raise ArgumentError("an encoder needs its generator; pass generator= as well")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    batch = _batch(blackbox, X, target)
    inputs = len(batch.rows)
    image = blackbox.layout in IMAGE_LAYOUTS
    values = blackbox.input_values(reference)  # discrete inputs: searched in input space, kept integers
    domain = Domain(blackbox.input_shape, image, reference, constraints, values)
    start: LatentStart | None = None
    round_budget = (params.budget - 1) // params.count
    basis = None
    if (
        generator is None
        and reference is not None
        and not values.discrete
        and uses_basis(blackbox.layout, blackbox.input_shape)
    ):
        basis = ImageBasis(blackbox.prepare(np.asarray(reference)), blackbox.layout, clipped=False)
    decoder = generator if generator is not None else basis
    if decoder is not None:
        latent_space = LatentSpace(
            domain,
            decoder,
            blackbox.prepare,
            inputs,
            residual=params.residual or basis is not None,
            distance=params.distance,
            beta=params.beta,
        )
        begin = latent_start(
            latent_space,
            encoder if basis is None else basis,
            batch.rows,
            params.inversion_budget,
            rng,
            params.method,
            params.patience,
        )
        latent_run = Run(blackbox, latent_space, inputs, params)
        found = _rounds(
            batch,
            params,
            domain,
            lambda tasks, rngs: latent_round(latent_run, tasks, rngs, round_budget, begin, params.sigma),
            rng,
        )
        start, queries, generator_rows = begin, latent_run.queries, latent_space.generator_rows
    else:
        input_space = InputSpace(
            domain, blackbox.layout, params.cell, params.distance, params.proximity_weight
        )
        input_run = Run(blackbox, input_space, inputs, params)
        neighbours = flat(reference) if reference is not None and not image else None
        found = _rounds(
            batch,
            params,
            domain,
            lambda tasks, rngs: input_round(
                input_run, tasks, rngs, round_budget, neighbours, params.sigma, params.sparse
            ),
            rng,
        )
        queries, generator_rows = input_run.queries, np.zeros(inputs, dtype=np.int64)
    searched = Searched(
        space=basis.name if basis is not None else "latent" if generator is not None else "input",
        method=params.method,
        count=params.count,
        queries=queries + 1,  # each input's own prediction counts too
        generator_rows=generator_rows,
        start=start,
        seconds=(time.perf_counter() - start_time) / inputs,
    )
    return gather_results(
        blackbox,
        batch,
        found,
        searched,
        domain=domain,
        reference=reference,
        generator=generator,
        encoder=encoder,
    )


def counterfactual(
    blackbox: BlackBox,
    x: np.ndarray,
    target: Target = "second",
    *,
    generator: Generator | None = None,
    encoder: Encoder | None = None,
    reference: np.ndarray | None = None,
    constraints: FeatureConstraints = NO_CONSTRAINTS,
    params: CounterfactualParams = DEFAULT_PARAMS,
    rng: np.random.Generator | int = 0,
) -> CounterfactualResult:
    """Counterfactuals for one sample x (model layout, with or without a batch axis of 1); see `counterfactuals`."""
    x = np.asarray(x)
    batch = x[None] if x.shape == blackbox.input_shape or x.ndim == len(blackbox.input_shape) else x
    if len(batch) != 1:
        raise DataError(f"counterfactual() takes one sample, got {len(batch)} rows; use counterfactuals()")
    return counterfactuals(
        blackbox,
        batch,
        target,
        generator=generator,
        encoder=encoder,
        reference=reference,
        constraints=constraints,
        params=params,
        rng=rng,
    )[0]


def _batch(blackbox: BlackBox, X: np.ndarray, target: Target) -> Batch:
    """The rows in the model's layout, checked finite, with their scores, classes and targets."""
    rows = blackbox.prepare(np.asarray(X))
    if not len(rows):
        raise DataError("no input rows to explain")
    flattened = flat(rows)
    if not np.isfinite(flattened).all():
        raise DataError("input rows contain NaN or Inf; clean them before asking for counterfactuals")
    probs = blackbox.predict(rows).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(probs).all(axis=1))
    if bad.size:
        raise DataError(
            f"the model returns non-finite scores for input row {int(bad[0])}; it cannot be explained"
        )
    targets = resolve_targets(target, probs, blackbox.n_classes)
    return Batch(rows, flattened, probs, probs.argmax(axis=1), targets)


def _rounds(
    batch: Batch, params: CounterfactualParams, domain: Domain, one_round: Round, rng: np.random.Generator
) -> list[list[Task]]:
    """`params.count` rounds over the inputs whose target is not already their class; each round's
    tasks keep apart from the earlier rounds' counterfactuals."""
    scoring = Scoring(params.distance, params.kappa, params.tau)
    found: list[list[Task]] = [[] for _ in range(len(batch.rows))]
    todo = [index for index in range(len(batch.rows)) if batch.targets[index] != batch.source[index]]
    for _ in range(params.count):
        tasks = [
            new_task(
                index,
                batch.flat[index],
                found[index],
                int(batch.source[index]),
                int(batch.targets[index]),
                scoring,
                domain.scale,
                params.diversity,
            )
            for index in todo
        ]
        if not tasks:
            break
        one_round(tasks, list(rng.spawn(len(tasks))))
        for task in tasks:
            found[task.index].append(task)
    return found
