"""The generator path: the latent space, each input's start z0 (encoder or zero-order inversion), the latent round."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from auditor.errors import DataError
from auditor.explain.counterfactuals.domain import Domain
from auditor.explain.counterfactuals.engine import Run, budgeted_lockstep
from auditor.explain.counterfactuals.measures import flat, mean_square_scaled
from auditor.explain.counterfactuals.objective import Task, scaled_distance
from auditor.explain.image_bases import ImageBasis
from auditor.model.generator import Encoder, Generator
from auditor.search import Evaluation, Search, make_search

LATENT_SIGMA = 0.5  # initial step of latent searches, in prior standard deviations


class LatentSpace:
    """z -> x' = G(z) (or x + G(z) − G(z0) with `residual`), clipped to the box; beta·||z − z0||² added.

    `generator_rows` counts, per input, the rows the generator (and encoder) ran for it.
    """

    kind: Literal["input", "latent"] = "latent"

    def __init__(
        self,
        domain: Domain,
        generator: Generator | ImageBasis,
        to_model: Callable[[np.ndarray], np.ndarray],
        inputs: int,
        *,
        residual: bool,
        distance: str,
        beta: float,
    ) -> None:
        self.domain = domain
        self.generator = generator
        self.to_model = to_model
        self.residual = residual
        self.distance = distance
        self.beta = beta
        self.generator_rows = np.zeros(inputs, dtype=np.int64)

    @property
    def dim(self) -> int:
        return self.generator.latent_dim

    def generate(self, z: np.ndarray) -> np.ndarray:
        """G(z) as flattened model rows in the generator's own dtype (not counted: callers count per input).

        No float64 copy: the float64 arithmetic that follows (x + G(z) − G(z0), losses) upcasts inside
        each operation, with the same figures.
        """
        images = np.asarray(self.to_model(self.generator.generate(z)))
        return images.reshape(len(images), -1)

    def decode(self, tasks: Sequence[Task], asks: Sequence[np.ndarray]) -> list[np.ndarray]:
        images = np.split(self.generate(np.concatenate(asks)), np.cumsum([len(z) for z in asks])[:-1])
        out = []
        for task, z, rows in zip(tasks, asks, images):
            self.generator_rows[task.index] += len(z)
            if self.residual:
                assert task.g0 is not None
                rows = np.add(task.x, rows)  # float64, as x + G(z) − G(z0) in place
                rows -= task.g0
            else:
                rows = rows.astype(np.float64)
            out.append(np.clip(rows, *self.domain.box, out=rows))
        return out

    def proximity(self, task: Task, rows: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        assert z is not None and task.z0 is not None
        return scaled_distance(rows, task.x, self.domain.scale, self.distance) + self.beta * (
            (z - task.z0) ** 2
        ).sum(axis=1)

    def popsize_for(self, method: str) -> int | None:
        return None


@dataclass(frozen=True, eq=False)
class LatentStart:
    """Each input's start z0, G(z0) (flattened model rows) and the RMS of G(z0) − x in scale units."""

    z0: np.ndarray
    g0: np.ndarray
    z0_error: np.ndarray


def latent_start(
    space: LatentSpace,
    encoder: Encoder | ImageBasis | None,
    X: np.ndarray,
    inversion_budget: int,
    rng: np.random.Generator,
    method: str,
    patience: int,
) -> LatentStart:
    """Each input's start z0: encoded, else inverted within `inversion_budget` generator queries."""
    inputs, xs, generator = len(X), flat(X), space.generator
    if encoder is not None:
        z0 = np.asarray(
            encoder.encode(to_shape(X, generator.output_shape).astype(np.float32)), dtype=np.float64
        )
        if z0.shape != (inputs, generator.latent_dim):
            raise DataError(
                f"the encoder returns {z0.shape[1]} values per row, the generator takes {generator.latent_dim}"
            )
        space.generator_rows += 1
    else:
        z0 = invert(space, xs, inversion_budget, list(rng.spawn(inputs)), method, patience)
    g0 = space.generate(z0)
    space.generator_rows += 1
    z0_error = np.sqrt((((g0 - xs) / space.domain.scale) ** 2).mean(axis=1))
    return LatentStart(z0, g0, z0_error)


def latent_round(
    run: Run[LatentSpace],
    tasks: list[Task],
    rngs: list[np.random.Generator],
    budget: int,
    start: LatentStart,
    sigma: float | None,
) -> None:
    """One latent round within `budget` rows per task: the search from each input's z0."""
    starts = []
    for task in tasks:
        task.z0, task.g0 = start.z0[task.index], start.g0[task.index]
        starts.append((start.z0[task.index], sigma or LATENT_SIGMA))
    run.search(tasks, budget, starts, rngs)


def invert(
    space: LatentSpace,
    x: np.ndarray,
    budget: int,
    rngs: list[np.random.Generator],
    method: str,
    patience: int,
) -> np.ndarray:
    """Zero-order inversion: argmin_z mean(((G(z) − x)/scale)²), generator queries only, all inputs in lockstep."""
    scale = space.domain.scale
    searches: list[Search] = [make_search(method, space.dim, rng, sigma=1.0) for rng in rngs]

    def evaluate_many(asks: list[np.ndarray], owners: Sequence[int]) -> list[Evaluation]:
        images = np.split(space.generate(np.concatenate(asks)), np.cumsum([len(z) for z in asks])[:-1])
        out = []
        for owner, z, rows in zip(owners, asks, images):
            space.generator_rows[owner] += len(z)
            out.append(Evaluation(mean_square_scaled(rows, x[owner], scale), np.zeros(len(z), dtype=bool)))
        return out

    return np.array(
        [result.best_z for result in budgeted_lockstep(evaluate_many, searches, budget, patience)]
    )


def to_shape(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Rows in another sample shape: as is, NCHW<->NHWC transposed, or reshaped when the sizes agree."""
    if rows.shape[1:] == shape:
        return rows
    if rows.ndim == 4 and len(shape) == 3:
        for perm in ((0, 2, 3, 1), (0, 3, 1, 2)):
            if tuple(rows.shape[axis] for axis in perm[1:]) == shape:
                return np.ascontiguousarray(rows.transpose(perm))
    if int(np.prod(rows.shape[1:])) == int(np.prod(shape)):
        return rows.reshape(len(rows), *shape)
    raise DataError(f"rows of shape {list(rows.shape[1:])} do not fit the generator's {list(shape)}")
