"""`robustness`: each input's smallest perturbation that changes the model's label, with scores or labels only."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.counterfactuals.measures import flat
from auditor.explain.robustness.box import Box
from auditor.explain.robustness.evolution import evolution_search
from auditor.explain.robustness.hopskipjump import hopskipjump_search
from auditor.explain.robustness.oracle import Oracle
from auditor.explain.robustness.outcome import Outcome
from auditor.explain.robustness.params import RobustnessParams
from auditor.explain.robustness.result import InputRadius, RobustnessResult, accuracy_curve
from auditor.explain.robustness.square import square_search
from auditor.explain.robustness.windows import Windows
from auditor.model.blackbox import BlackBox
from auditor.model.signature import IMAGE_LAYOUTS

DEFAULT_PARAMS = RobustnessParams()


def robustness(
    blackbox: BlackBox,
    X: np.ndarray,
    params: RobustnessParams = DEFAULT_PARAMS,
    *,
    labels: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    bounds: tuple[float | np.ndarray, float | np.ndarray] | None = None,
    integer: Sequence[int] = (),
    immutable: Sequence[int] = (),
    rng: np.random.Generator | int = 0,
) -> RobustnessResult:
    """Smallest L∞ or L2 perturbation (model input units) that flips each row of X, all rows in lockstep.

    - params: method, norm, per-input query budget (hard) and the searches' knobs (`RobustnessParams`).
    - labels: true classes; the curve then counts misclassified rows as wrong at every ε.
    - reference: rows giving the box ([min, max]; one range for images) and, for the label-only search,
      the differently-labelled starting rows (their labels cost one query each, counted apart). Default: X.
    - bounds: the box as (lower, upper), overriding the reference's; integer / immutable: flat feature
      indices rounded / never moved. A discrete-input model (ids, bytes: `BlackBox.discrete_input`) has every
      feature integer, within its value set's range unless `bounds` says otherwise.
    - rng: a seed (recorded in the result) or a Generator. Same seed, same result, bit for bit.
    Rows the model answers with NaN, and rows nothing flips within the budget, come back not found.
    """
    started, ort_started = time.perf_counter(), blackbox.ort_seconds
    seed = int(rng) if isinstance(rng, int | np.integer) else None
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    method = params.resolved_method(blackbox.signature.hard_label)
    X = blackbox.prepare(np.asarray(X))
    if not len(X):
        raise DataError("no input rows to test")
    x0 = flat(X).astype(np.float32)
    if not np.isfinite(x0).all():
        raise DataError("input rows contain NaN or Inf; clean them before testing robustness")
    truth = _labels(labels, len(X), blackbox.n_classes)
    sources = blackbox.predict_labels(X)
    image = blackbox.layout in IMAGE_LAYOUTS
    ref = x0 if reference is None else flat(blackbox.prepare(np.asarray(reference))).astype(np.float32)
    if blackbox.discrete_input:  # ids or bytes: every element an integer of the model's value set
        values = blackbox.input_values(ref)
        integer = range(x0.shape[1])
        bounds = bounds if bounds is not None else (values.low, values.high)
    box = Box.of(x0.shape[1], ref, bounds=bounds, image=image, integer=integer, immutable=immutable)
    live = np.flatnonzero(sources >= 0)
    oracle = Oracle(blackbox, sources[live], params.budget, params.labels_only)
    reference_queries = 0
    windows = Windows(blackbox.input_shape, blackbox.layout)
    if method == "square":
        outcome = square_search(oracle, x0[live], box, windows, params, rng)
    elif method != "hopskipjump":
        outcome = evolution_search(oracle, x0[live], box, params, rng, method)
    else:
        ref_labels = (
            sources if reference is None else blackbox.predict_labels(ref.reshape(len(ref), *X.shape[1:]))
        )
        reference_queries = 0 if reference is None else len(ref)
        outcome = hopskipjump_search(oracle, x0[live], box, windows, params, rng, ref, ref_labels)
    whole = Outcome.empty(x0)
    whole.stop[:] = "nonfinite_scores"
    for name in ("best", "radius", "label", "stop", "tried"):
        getattr(whole, name)[live] = getattr(outcome, name)
    queries = np.ones(len(X), dtype=np.int64)
    queries[live] = oracle.queries
    entries = tuple(
        InputRadius(
            index=i,
            source=int(sources[i]),
            flipped_to=int(whole.label[i]) if np.isfinite(whole.radius[i]) else None,
            radius=float(whole.radius[i]) if np.isfinite(whole.radius[i]) else None,
            found=bool(np.isfinite(whole.radius[i])),
            queries=int(queries[i]),
            stop_reason=str(whole.stop[i]),
            lower_bound=None if np.isfinite(whole.radius[i]) else float(whole.tried[i]),
        )
        for i in range(len(X))
    )
    correct = None if truth is None else truth == sources
    curve = accuracy_curve(
        whole.radius, np.ones(len(X), bool) if correct is None else correct, params.curve_points
    )
    return RobustnessResult(
        method=method,
        norm=params.norm,
        seed=seed,
        budget=params.budget,
        labels_only=oracle.labels_only,
        class_names=blackbox.class_names,
        inputs=entries,
        x=X,
        perturbed=whole.best.reshape(X.shape),
        correct=correct,
        curve=curve,
        reference_queries=reference_queries,
        seconds=time.perf_counter() - started,
        ort_seconds=blackbox.ort_seconds - ort_started,
    )


def _labels(labels: np.ndarray | None, n: int, k_classes: int) -> np.ndarray | None:
    if labels is None:
        return None
    values = np.asarray(labels)
    if values.shape != (n,) or values.dtype.kind not in "iu":
        raise ArgumentError(f"labels must be {n} integer class indices, one per row")
    if (values < 0).any() or (values >= k_classes).any():
        raise ArgumentError(f"labels must be class indices in 0..{k_classes - 1}")
    return values.astype(np.int64)
