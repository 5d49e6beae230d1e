"""What `counterfactuals` returns per input, and its assembly from the searches' best rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from auditor.explain.counterfactuals.domain import Domain
from auditor.explain.counterfactuals.engine import Run
from auditor.explain.counterfactuals.latent import to_shape
from auditor.explain.counterfactuals.objective import Task
from auditor.explain.metrics import (
    NearestReference,
    changed_features,
    flat,
    l1_distance,
    l2_distance,
    reached,
    reconstruction_error,
)
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator


@dataclass(frozen=True, eq=False)
class CounterfactualResult:
    """k counterfactuals for one input, with their figures; `valid` says which flip the class (to the
    target, with margin κ and p_t ≥ τ when asked, and apart from the input's earlier counterfactuals).

    Distances: `l1`, `l2` in input units; `l1_scaled` divides each feature by its scale (MAD for
    tables). `changed` counts features moved by more than 1e-3 of their range. `realism` is the
    nearest-reference distance over the data's typical one (NaN without reference rows);
    `reconstruction` the RMS of x' − G(E(x')) in scale units (NaN without generator and encoder);
    `z0_error` the RMS of G(z0) − x for latent searches. `queries` counts classifier rows for this
    input (its own prediction included); `seconds` is its share of the batched call's wall time.
    """

    x: np.ndarray
    counterfactuals: np.ndarray
    valid: np.ndarray
    source: int
    targets: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    l1: np.ndarray
    l2: np.ndarray
    l1_scaled: np.ndarray
    changed: np.ndarray
    realism: np.ndarray
    reconstruction: np.ndarray
    latent: np.ndarray | None
    z0_error: float | None
    space: Literal["input", "latent"]
    method: str
    queries: int
    generator_queries: int
    seconds: float
    stop_reasons: tuple[str, ...]

    @property
    def target(self) -> int:
        """The class the first counterfactual aims at (for "any": the class it reached or came closest to)."""
        return int(self.targets[0])

    @property
    def found(self) -> bool:
        """True when at least one counterfactual is valid."""
        return bool(self.valid.any())


def gather_results(
    blackbox: BlackBox,
    X: np.ndarray,
    probs0: np.ndarray,
    source: np.ndarray,
    targets: np.ndarray,
    found: list[list[Task]],
    k: int,
    domain: Domain,
    reference: np.ndarray | None,
    generator: Generator | None,
    encoder: Encoder | None,
    z0: np.ndarray | None,
    z0_error: np.ndarray | None,
    run: Run,
    method: str,
    seconds: float,
) -> list[CounterfactualResult]:
    """Gather each input's counterfactuals and their figures (realism and reconstruction in one batch)."""
    n, shape, xs = len(X), blackbox.input_shape, flat(X)
    rows, probs, valid, reasons, latent = [], [], [], [], []
    for i in range(n):
        if found[i]:
            rows.append(np.array([t.best_x for t in found[i]]))
            probs.append(np.array([probs0[i] if t.best_p is None else t.best_p for t in found[i]]))
            valid.append(np.array([t.best_valid for t in found[i]]))
            reasons.append(tuple(t.stop_reason for t in found[i]))
            latent.append(
                None if z0 is None else np.array([z0[i] if t.best_z is None else t.best_z for t in found[i]])
            )
        else:  # the target is the predicted class: x itself is the counterfactual
            rows.append(np.repeat(xs[i][None], k, axis=0))
            probs.append(np.repeat(probs0[i][None], k, axis=0))
            valid.append(np.ones(k, dtype=bool))
            reasons.append(("target_reached",) * k)
            latent.append(None if z0 is None else np.repeat(z0[i][None], k, axis=0))
    everything = np.concatenate(rows)
    realism = np.full(len(everything), np.nan)
    if reference is not None:
        realism = NearestReference(reference, domain.scale).realism(everything)
    recon = np.full(len(everything), np.nan)
    if generator is not None and encoder is not None:
        images = to_shape(everything.reshape(len(everything), *shape), generator.output_shape)
        recon = reconstruction_error(generator, encoder, images, domain.scale)
        for i in range(n):
            run.generator_rows[i] += 2 * k
    out = []
    for i in range(n):
        part = slice(i * k, (i + 1) * k)
        aims = reached(probs[i], np.full(k, targets[i]), np.full(k, source[i]))
        out.append(
            CounterfactualResult(
                x=X[i].copy(),
                counterfactuals=rows[i].reshape(k, *shape).astype(np.float32),
                valid=valid[i],
                source=int(source[i]),
                targets=aims.astype(np.int64),
                confidence=probs[i][np.arange(k), aims],
                probabilities=probs[i],
                l1=l1_distance(xs[i][None], rows[i]),
                l2=l2_distance(xs[i][None], rows[i]),
                l1_scaled=l1_distance(xs[i][None], rows[i], domain.scale),
                changed=changed_features(xs[i][None], rows[i], domain.tolerance),
                realism=realism[part],
                reconstruction=recon[part],
                latent=latent[i],
                z0_error=None if z0_error is None else float(z0_error[i]),
                space="latent" if run.space.latent else "input",
                method=method,
                queries=int(run.queries[i]),
                generator_queries=int(run.generator_rows[i]),
                seconds=seconds,
                stop_reasons=reasons[i],
            )
        )
    return out
