"""Pure random search: every generation is a fresh batch drawn from the prior.

The baseline of Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization" (JMLR 2012);
it learns nothing from `tell`, so any search that cannot beat it is not worth its overhead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.arguments import Bounds, box_bounds, centre_point, check_positive, check_told
from auditor.search.protocol import Evaluation


class RandomSearch:
    """`popsize` rows per generation from N(x0, sigma²I) (default N(0, I)) or x0 + U(−init_box, init_box)."""

    def __init__(
        self,
        dim: int,
        rng: np.random.Generator,
        *,
        popsize: int = 32,
        x0: np.ndarray | None = None,
        sigma: float = 1.0,
        bounds: Bounds | None = None,
        init: Literal["normal", "uniform"] = "normal",
        init_box: float = 5.0,
    ) -> None:
        check_positive("sigma", sigma)
        check_positive("init_box", init_box)
        if popsize < 1:
            raise ArgumentError(f"popsize must be at least 1, got {popsize}")
        if init not in ("normal", "uniform"):
            raise ArgumentError(f"init must be 'normal' or 'uniform', got {init!r}")
        self.dim = dim
        self.rng = rng
        self.popsize = popsize
        self.centre = centre_point(x0, dim)
        self.sigma = sigma
        self.bounds = box_bounds(bounds, dim)
        self.init = init
        self.init_box = init_box
        self._asked: np.ndarray | None = None

    def ask(self) -> np.ndarray:
        """A fresh batch from the prior, clipped to the bounds."""
        shape = (self.popsize, self.dim)
        if self.init == "normal":
            z = self.centre + self.sigma * self.rng.standard_normal(shape)
        else:
            z = self.centre + self.rng.uniform(-self.init_box, self.init_box, shape)
        if self.bounds is not None:
            z = np.clip(z, *self.bounds)
        self._asked = z
        return z

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        """Nothing to learn; only checks that z answers the latest ask."""
        check_told(z, self._asked)
        self._asked = None
