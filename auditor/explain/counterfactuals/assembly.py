"""Assembly of the results of one `counterfactuals` call from the searches' best rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.explain.counterfactuals.domain import Domain
from auditor.explain.counterfactuals.latent import LatentStart, to_shape
from auditor.explain.counterfactuals.measures import (
    NearestReference,
    changed_features,
    l1_distance,
    l2_distance,
    reached,
    reconstruction_error,
)
from auditor.explain.counterfactuals.objective import Task
from auditor.explain.counterfactuals.results import CounterfactualResult
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator
from auditor.search import StopReason


@dataclass(frozen=True, eq=False)
class Batch:
    """The inputs of one call: rows in the model's layout, flattened, their scores, classes and targets."""

    rows: np.ndarray
    flat: np.ndarray
    probs: np.ndarray
    source: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True, eq=False)
class Searched:
    """How the searches of one call ran: where, by which method, `count` per input, at what cost."""

    space: str  # "input", "latent", or an image basis's name such as "dct-8x8"
    method: str
    count: int
    queries: np.ndarray
    generator_rows: np.ndarray
    start: LatentStart | None
    seconds: float


def gather_results(
    blackbox: BlackBox,
    batch: Batch,
    found: list[list[Task]],
    searched: Searched,
    *,
    domain: Domain,
    reference: np.ndarray | None,
    generator: Generator | None,
    encoder: Encoder | None,
) -> list[CounterfactualResult]:
    """Each input's counterfactuals and their figures (realism and reconstruction in one batch)."""
    inputs, shape, count = len(batch.rows), blackbox.input_shape, searched.count
    z0 = None if searched.start is None else searched.start.z0
    rows, probs, valid, latent = [], [], [], []
    reasons: list[tuple[StopReason, ...]] = []
    for index in range(inputs):
        tasks = found[index]
        if tasks:
            rows.append(np.array([task.best_x for task in tasks]))
            probs.append(
                np.array([batch.probs[index] if task.best_p is None else task.best_p for task in tasks])
            )
            valid.append(np.array([task.best_valid for task in tasks]))
            reasons.append(tuple(task.stop_reason for task in tasks))
            latent.append(
                None
                if z0 is None
                else np.array([z0[index] if task.best_z is None else task.best_z for task in tasks])
            )
        else:  # the target is the predicted class: x itself is the counterfactual
            rows.append(np.repeat(batch.flat[index][None], count, axis=0))
            probs.append(np.repeat(batch.probs[index][None], count, axis=0))
            valid.append(np.ones(count, dtype=bool))
            reached_already: StopReason = "target_reached"
            reasons.append((reached_already,) * count)
            latent.append(None if z0 is None else np.repeat(z0[index][None], count, axis=0))
    everything = np.concatenate(rows)
    realism = np.full(len(everything), np.nan)
    if reference is not None:
        realism = NearestReference(reference, domain.scale).realism(everything)
    recon = np.full(len(everything), np.nan)
    generator_rows = searched.generator_rows
    if generator is not None and encoder is not None:
        images = to_shape(everything.reshape(len(everything), *shape), generator.output_shape)
        recon = reconstruction_error(generator, encoder, images, domain.scale)
        generator_rows = generator_rows + 2 * count
    z0_error = None if searched.start is None else searched.start.z0_error
    out = []
    for index in range(inputs):
        part = slice(index * count, (index + 1) * count)
        x_flat = batch.flat[index][None]
        aims = reached(
            probs[index], np.full(count, batch.targets[index]), np.full(count, batch.source[index])
        )
        out.append(
            CounterfactualResult(
                x=batch.rows[index].copy(),
                counterfactuals=rows[index].reshape(count, *shape).astype(np.float32),
                valid=valid[index],
                source=int(batch.source[index]),
                targets=aims.astype(np.int64),
                confidence=probs[index][np.arange(count), aims],
                probabilities=probs[index],
                l1=l1_distance(x_flat, rows[index]),
                l2=l2_distance(x_flat, rows[index]),
                l1_scaled=l1_distance(x_flat, rows[index], domain.scale),
                changed=changed_features(x_flat, rows[index], domain.tolerance),
                realism=realism[part],
                reconstruction=recon[part],
                latent=latent[index],
                z0_error=None if z0_error is None else float(z0_error[index]),
                space=searched.space,
                method=searched.method,
                queries=int(searched.queries[index]),
                generator_queries=int(generator_rows[index]),
                seconds=searched.seconds,
                stop_reasons=reasons[index],
                class_names=blackbox.class_names,
                layout=blackbox.layout,
            )
        )
    return out
