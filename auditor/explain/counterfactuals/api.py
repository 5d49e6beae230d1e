"""The public searches: `counterfactuals` for a batch of rows, `counterfactual` for one, and their option checks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import numpy as np

from auditor.errors import ConfigError, DataError
from auditor.explain.counterfactuals.domain import Domain, FeatureConstraints
from auditor.explain.counterfactuals.engine import Run
from auditor.explain.counterfactuals.input_search import input_round
from auditor.explain.counterfactuals.input_space import InputSpace
from auditor.explain.counterfactuals.latent import LatentSpace, latent_round, latent_start
from auditor.explain.counterfactuals.objective import Settings, Task, new_task
from auditor.explain.counterfactuals.results import CounterfactualResult, gather_results
from auditor.explain.metrics import flat
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator
from auditor.model.signature import IMAGE_LAYOUTS

Target = int | Literal["second", "any"] | Sequence[int] | np.ndarray
METHODS = ("cmaes", "es", "momentum_es", "random")
DEFAULT_BUDGET = 2500
DEFAULT_PATIENCE = 15
NO_CONSTRAINTS = FeatureConstraints()


def counterfactuals(
    blackbox: BlackBox,
    X: np.ndarray,
    target: Target = "second",
    *,
    generator: Generator | None = None,
    encoder: Encoder | None = None,
    reference: np.ndarray | None = None,
    constraints: FeatureConstraints = NO_CONSTRAINTS,
    method: str = "cmaes",
    budget: int = DEFAULT_BUDGET,
    k: int = 1,
    rng: np.random.Generator | int = 0,
    distance: Literal["l1", "l2"] = "l1",
    kappa: float = 0.0,
    tau: float = 0.0,
    residual: bool = False,
    beta: float = 0.01,
    sigma: float | None = None,
    popsize: int | None = None,
    patience: int = DEFAULT_PATIENCE,
    sparse: bool = True,
    sparsity: float = 3.0,
    cell: int | None = None,
    inversion_budget: int = 2000,
    diversity: float = 0.5,
) -> list[CounterfactualResult]:
    """Counterfactuals for every row of X (model layout), all searched in lockstep (one model call per
    generation), returned in X's order.

    - target: a class index, "second" (each input's runner-up), "any" (any class but the predicted
      one), or one class per row. Valid means the model's top class is the target, with log-margin
      at least `kappa` and p_target >= `tau`.
    - budget: classifier queries per input, all k counterfactuals included; never exceeded. A budget
      too small to succeed returns results marked invalid (stop reason "budget"), never an error.
    - generator (+ encoder): search its latent space; z0 = encoder(x), else a zero-order inversion
      using at most `inversion_budget` generator queries. `residual` uses x + G(z) − G(z0). `beta`
      weighs ||z − z0||².
    - without a generator: input space under `constraints`; `sparse` runs the sparse pass, and with
      distance "l1" each changed feature (image: cell of `cell` pixels) costs `sparsity` scale units.
    - reference: rows giving the per-feature scale (MAD), the box and the realism metric.
    - k, diversity: counterfactual j > 0 keeps an RMS distance (scale units) of at least `diversity`
      times the first one's distance from x away from every earlier one.
    - method, popsize, sigma, patience: the search (see `auditor.search.make_search`; popsize None:
      64 for CMA-ES in input space, the method's default otherwise); it stops after `patience`
      generations without a 0.1 % gain in proximity, or on budget.
    """
    start_time = time.perf_counter()
    check_options(
        method,
        budget,
        k,
        distance,
        kappa,
        tau,
        beta,
        sigma,
        popsize,
        patience,
        inversion_budget,
        diversity,
        sparsity,
    )
    if encoder is not None and generator is None:
        raise ConfigError("an encoder needs its generator; pass generator= as well")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    X = blackbox.prepare(np.asarray(X))
    if not len(X):
        raise DataError("no input rows to explain")
    n, shape = len(X), blackbox.input_shape
    xs = flat(X)
    if not np.isfinite(xs).all():
        raise DataError("input rows contain NaN or Inf; clean them before asking for counterfactuals")
    probs0 = blackbox.predict(X).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(probs0).all(axis=1))
    if bad.size:
        raise DataError(
            f"the model returns non-finite scores for input row {int(bad[0])}; it cannot be explained"
        )
    source = probs0.argmax(axis=1)
    targets = resolve_targets(target, probs0, blackbox.n_classes)
    image = blackbox.layout in IMAGE_LAYOUTS
    domain = Domain(shape, image, reference, constraints)
    settings = Settings(distance, kappa, tau)

    space: InputSpace | LatentSpace
    z0 = g0 = z0_error = None
    generator_rows = [0] * n
    if generator is not None:
        space = LatentSpace(domain, generator, blackbox.prepare, residual, distance, beta)
        z0, g0, z0_error = latent_start(
            space, encoder, X, inversion_budget, rng, method, patience, generator_rows
        )
    else:
        weight = sparsity if sparse and distance == "l1" else 0.0
        space = InputSpace(domain, blackbox.layout, cell, distance, weight)

    run = Run(blackbox, space, generator_rows, method, popsize, patience)
    run.queries += 1  # each input's own prediction
    round_budget = (budget - 1) // k
    found: list[list[Task]] = [[] for _ in range(n)]
    todo = [i for i in range(n) if targets[i] != source[i]]
    neighbours = flat(reference) if reference is not None and not image else None
    for _ in range(k):
        tasks = [
            new_task(i, xs[i], found[i], int(source[i]), int(targets[i]), settings, domain.scale, diversity)
            for i in todo
        ]
        if not tasks:
            break
        rngs = list(rng.spawn(len(tasks)))
        if isinstance(space, LatentSpace):
            assert z0 is not None and g0 is not None
            latent_round(run, tasks, rngs, round_budget, z0, g0, sigma)
        else:
            input_round(run, tasks, rngs, round_budget, neighbours, sigma, sparse)
        for task in tasks:
            found[task.index].append(task)
    seconds = (time.perf_counter() - start_time) / n
    return gather_results(
        blackbox,
        X,
        probs0,
        source,
        targets,
        found,
        k,
        domain,
        reference,
        generator,
        encoder,
        z0,
        z0_error,
        run,
        method,
        seconds,
    )


def counterfactual(
    blackbox: BlackBox, x: np.ndarray, target: Target = "second", **options: object
) -> CounterfactualResult:
    """Counterfactuals for one sample x (model layout, with or without a batch axis of 1); see `counterfactuals`."""
    x = np.asarray(x)
    batch = x[None] if x.shape == blackbox.input_shape or x.ndim == len(blackbox.input_shape) else x
    if len(batch) != 1:
        raise DataError(f"counterfactual() takes one sample, got {len(batch)} rows; use counterfactuals()")
    return counterfactuals(blackbox, batch, target, **options)[0]  # type: ignore[arg-type]


def check_options(
    method: str,
    budget: int,
    k: int,
    distance: str,
    kappa: float,
    tau: float,
    beta: float,
    sigma: float | None,
    popsize: int | None,
    patience: int,
    inversion_budget: int,
    diversity: float,
    sparsity: float,
) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown counterfactual search method {method!r}; use one of {', '.join(METHODS)}")
    if distance not in ("l1", "l2"):
        raise ConfigError(f"distance must be 'l1' or 'l2', got {distance!r}")
    for name, value in (
        ("budget", budget),
        ("k", k),
        ("patience", patience),
        ("inversion_budget", inversion_budget),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if popsize is not None and popsize < 2:
        raise ConfigError(f"popsize must be at least 2, got {popsize}")
    for name, value in (("kappa", kappa), ("beta", beta), ("diversity", diversity), ("sparsity", sparsity)):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
    if not 0 <= tau < 1:
        raise ConfigError(f"tau must be in [0, 1), got {tau}")
    if sigma is not None and not (np.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma must be a finite number > 0, got {sigma}")


def resolve_targets(target: Target, probs: np.ndarray, k_classes: int) -> np.ndarray:
    """One class per row (−1 for "any")."""
    n = len(probs)
    if isinstance(target, str):
        if target == "second":
            if k_classes < 2:
                raise ConfigError("target 'second' needs a model with at least 2 classes")
            return np.argsort(-probs, axis=1, kind="stable")[:, 1]
        if target == "any":
            return np.full(n, -1)
        raise ConfigError(f"unknown target {target!r}; use a class index, 'second' or 'any'")
    values = np.asarray(target)
    if values.dtype.kind not in "iu" or values.ndim > 1:
        raise ConfigError(
            f"target must be a class index, 'second', 'any' or one index per row, got {target!r}"
        )
    values = np.broadcast_to(values, (n,)) if values.ndim == 0 else values
    if len(values) != n:
        raise ConfigError(f"{len(values)} targets given for {n} rows")
    if (values < 0).any() or (values >= k_classes).any():
        raise ConfigError(f"target classes must be in 0..{k_classes - 1}")
    return values.astype(np.int64)
