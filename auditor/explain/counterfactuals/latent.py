"""The generator path: the latent space, each input's start z0 (encoder or zero-order inversion), the latent round."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from auditor.errors import DataError
from auditor.explain.counterfactuals.domain import Domain
from auditor.explain.counterfactuals.engine import Budgeted, Run, asking, lockstep
from auditor.explain.counterfactuals.objective import Task, scaled_distance
from auditor.explain.metrics import flat
from auditor.model.generator import Encoder, Generator
from auditor.search import Evaluation, make_search

LATENT_SIGMA = 0.5  # initial step of latent searches, in prior standard deviations


@dataclass(frozen=True, eq=False)
class LatentSpace:
    """z -> x' = G(z) (or x + G(z) − G(z0) with `residual`), clipped to the box; beta·||z − z0||² added."""

    domain: Domain
    generator: Generator
    to_model: Callable[[np.ndarray], np.ndarray]
    residual: bool
    distance: str
    beta: float
    latent = True

    @property
    def dim(self) -> int:
        return self.generator.latent_dim

    def generate(self, z: np.ndarray) -> np.ndarray:
        return flat(self.to_model(self.generator.generate(z)))

    def decode(
        self, tasks: list[Task], asks: list[np.ndarray], generator_rows: list[int]
    ) -> list[np.ndarray]:
        images = np.split(self.generate(np.concatenate(asks)), np.cumsum([len(z) for z in asks])[:-1])
        out = []
        for task, z, rows in zip(tasks, asks, images):
            generator_rows[task.index] += len(z)
            if self.residual:
                assert task.g0 is not None
                rows = task.x + rows - task.g0
            out.append(np.clip(rows, *self.domain.box))
        return out

    def proximity(self, task: Task, rows: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        assert z is not None and task.z0 is not None
        return scaled_distance(rows, task.x, self.domain.scale, self.distance) + self.beta * (
            (z - task.z0) ** 2
        ).sum(axis=1)


def latent_start(
    space: LatentSpace,
    encoder: Encoder | None,
    X: np.ndarray,
    inversion_budget: int,
    rng: np.random.Generator,
    method: str,
    patience: int,
    generator_rows: list[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each input's start z0 (encoded, else inverted within `inversion_budget`), G(z0), and the RMS of
    G(z0) − x in scale units."""
    n, xs, generator = len(X), flat(X), space.generator
    if encoder is not None:
        z0 = np.asarray(
            encoder.encode(to_shape(X, generator.output_shape).astype(np.float32)), dtype=np.float64
        )
        if z0.shape != (n, generator.latent_dim):
            raise DataError(
                f"the encoder returns {z0.shape[1]} values per row, the generator takes {generator.latent_dim}"
            )
        for i in range(n):
            generator_rows[i] += 1
    else:
        z0 = invert(space, xs, inversion_budget, list(rng.spawn(n)), method, patience, generator_rows)
    g0 = space.generate(z0)
    for i in range(n):
        generator_rows[i] += 1
    z0_error = np.sqrt((((g0 - xs) / space.domain.scale) ** 2).mean(axis=1))
    return z0, g0, z0_error


def latent_round(
    run: Run,
    tasks: list[Task],
    rngs: list[np.random.Generator],
    budget: int,
    z0: np.ndarray,
    g0: np.ndarray,
    sigma: float | None,
) -> None:
    """One latent round within `budget` rows per task: the search from each input's z0."""
    for task in tasks:
        task.z0, task.g0 = z0[task.index], g0[task.index]
    run.search(tasks, budget, [(task.z0, sigma or LATENT_SIGMA) for task in tasks], rngs)


def invert(
    generator_space: LatentSpace,
    x: np.ndarray,
    budget: int,
    rngs: list[np.random.Generator],
    method: str,
    patience: int,
    generator_rows: list[int],
) -> np.ndarray:
    """Zero-order inversion: argmin_z mean(((G(z) − x)/scale)²), generator queries only, all inputs in lockstep."""
    d, scale = generator_space.dim, generator_space.domain.scale
    wrappers = [
        Budgeted(make_search(method, d, rng, sigma=1.0), budget, index=i) for i, rng in enumerate(rngs)
    ]

    def evaluate_many(asks: list[np.ndarray]) -> list[Evaluation]:
        active = asking(wrappers, asks)
        images = generator_space.generate(np.concatenate(asks))
        out = []
        start = 0
        for wrapper, z in zip(active, asks):
            i = wrapper.index
            rows = images[start : start + len(z)]
            start += len(z)
            generator_rows[i] += len(z)
            loss = (((rows - x[i]) / scale) ** 2).mean(axis=1)
            out.append(Evaluation(loss, np.zeros(len(z), dtype=bool)))
        return out

    return np.array([r.best_z for r in lockstep(wrappers, evaluate_many, budget, patience)])


def to_shape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Rows in another sample shape: as is, NCHW<->NHWC transposed, or reshaped when the sizes agree."""
    if x.shape[1:] == shape:
        return x
    if x.ndim == 4 and len(shape) == 3:
        for perm in ((0, 2, 3, 1), (0, 3, 1, 2)):
            if tuple(x.shape[p] for p in perm[1:]) == shape:
                return np.ascontiguousarray(x.transpose(perm))
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return x.reshape(len(x), *shape)
    raise DataError(f"rows of shape {list(x.shape[1:])} do not fit the generator's {list(shape)}")
