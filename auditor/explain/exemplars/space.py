"""Where an exemplar search runs: a generator's latent space, an image basis, or a box over input rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.image_bases import ImageBasis, uses_basis
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Generator

UNIFORM_STD = float(1 / np.sqrt(3))  # of U(-1, 1)


class PriorOptions(TypedDict, total=False):
    """Options of momentum ES and random search that set where their first population is drawn."""

    init: Literal["normal", "uniform"]
    init_box: float


@dataclass(frozen=True, eq=False)
class InputBox:
    """Input-space search without a generator: standardized coordinates inside the data's ranges.

    Features that never vary in the reference data stay fixed at their value; decoded rows keep the
    reference rows' sample shape, and integers for a discrete input (ids, bytes).
    """

    mean: np.ndarray
    scale: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    free: np.ndarray  # indices of the searched features
    shape: tuple[int, ...]  # of one reference row
    discrete: bool = False

    @classmethod
    def from_reference(cls, reference: np.ndarray, discrete: bool = False) -> InputBox:
        rows = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
        if len(rows) < 2 or not np.isfinite(rows).all():
            raise DataError(
                "the reference data needs at least two rows of finite values to set the search box"
            )
        lower, upper = rows.min(axis=0), rows.max(axis=0)
        free = np.flatnonzero(upper > lower)
        if free.size == 0:
            raise DataError("every feature is constant in the reference data; there is nothing to search")
        return cls(
            rows.mean(axis=0), rows.std(axis=0), lower, upper, free, tuple(reference.shape[1:]), discrete
        )

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
        """Standardized coordinates (n, dim) -> rows (n, *shape), clipped to the box."""
        x = np.repeat(self.mean[None], len(u), axis=0)
        x[:, self.free] = self.mean[self.free] + u * self.scale[self.free]
        if self.discrete:
            x = np.rint(x)  # the box's bounds are values of the data, integers too
        return np.clip(x, self.lower, self.upper).astype(np.float32).reshape(len(u), *self.shape)


class SearchSpace:
    """Where the search runs: a generator's latent space; without one, an `ImageBasis` fitted on the
    reference rows for images above `BASIS_MIN_VALUES` values (`kind` names it, e.g. "dct-8x8"),
    else an InputBox over the reference rows read in the model's input shape."""

    def __init__(self, blackbox: BlackBox, generator: Generator | None, reference: np.ndarray | None) -> None:
        self.blackbox = blackbox
        self.generator: Generator | ImageBasis | None = generator
        self.box: InputBox | None = None
        self.bounds: tuple[np.ndarray | float, np.ndarray | float] | None
        self.kind = "latent"
        discrete = False
        if generator is None and reference is not None:
            reference = model_rows(blackbox, reference)
            discrete = blackbox.input_values(reference).discrete  # searched in input space, as integers
            if uses_basis(blackbox.layout, blackbox.input_shape) and not discrete:
                self.generator = ImageBasis(reference, blackbox.layout)
                self.kind = self.generator.name
        if self.generator is not None:
            decoder = self.generator
            self.dim = decoder.latent_dim
            self.bounds = (-1.0, 1.0) if decoder.prior == "uniform" else None
            what = f"the generator's output {list(decoder.output_shape)}"
            probe = np.zeros((1, *decoder.output_shape), np.float32)
        else:
            if reference is None:
                raise ArgumentError("without a generator, give reference rows (--data) to set the search box")
            self.kind = "input"
            self.box = InputBox.from_reference(reference, discrete)
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
        if self.generator is not None:
            return self.blackbox.prepare(self.generator.generate(z))
        assert self.box is not None
        return self.blackbox.prepare(self.box.decode(z))

    @property
    def uniform(self) -> bool:
        return self.generator is not None and self.generator.prior == "uniform"

    def sigma_for(self, method: str, sigma: float | None) -> float | None:
        """The step size: `sigma` when given; for CMA-ES (which starts at the prior's centre) one prior
        standard deviation, since a prior draw as x0 can sit where one class saturates and the Brier
        loss is flat there; None (the method's default) otherwise."""
        if sigma is None and method == "cmaes":
            return UNIFORM_STD if self.uniform else 1.0
        return sigma

    def prior_options(self, method: str) -> PriorOptions:
        """Options that start the population-based searches from the prior's whole spread."""
        return {"init": "uniform", "init_box": 1.0} if self.uniform and method != "cmaes" else {}

    @property
    def generated(self) -> int:
        return self.generator.queries if self.generator is not None else 0

    @property
    def ort_seconds(self) -> float:
        return self.blackbox.ort_seconds + (self.generator.ort_seconds if self.generator is not None else 0.0)


def model_rows(blackbox: BlackBox, reference: np.ndarray) -> np.ndarray:
    """Reference rows in the model's sample shape: as `prepare` reads them (NCHW<->NHWC), else reshaped
    when each row holds as many values as the model's input (flattened rows, HW rows of a 1-channel model)."""
    try:
        return blackbox.prepare(reference)
    except DataError:
        rows = np.asarray(reference)
        if rows.ndim >= 2 and int(np.prod(rows.shape[1:])) == int(np.prod(blackbox.input_shape)):
            return rows.reshape(len(rows), *blackbox.input_shape)
        return rows  # the search space's probe says what does not fit
