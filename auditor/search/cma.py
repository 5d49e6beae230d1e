"""CMA-ES through the `cma` package, behind our ask/tell protocol.

Follows Hansen, "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772) as implemented by
`cma` (github.com/CMA-ES/pycma). Its normal samples come from our Generator (cma's `randn`
option), so runs are reproducible, lockstep-safe and leave numpy's global RNG alone; bounds use
cma's own `BoundTransform`. Above `DIAGONAL_ABOVE` dimensions the covariance is diagonal
(sep-CMA, Ros & Hansen 2008): full CMA's ask/tell dominates wall time there. When cma's own
termination criteria fire (tolfun, tolx, flat fitness, ...), the search restarts from x0 with the
initial step size, so only our `StopRule` ends a run; `restarts` counts them.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.arguments import Bounds, box_bounds, centre_point, check_positive, check_told
from auditor.search.protocol import Evaluation

if TYPE_CHECKING:
    import cma

DIAGONAL_ABOVE = 100


def _cma() -> ModuleType:
    """The `cma` package, imported on first use: its import pulls in scipy.stats (about 2 s)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not import matplotlib")
        import cma

    return cma


def finite_fitness(loss: np.ndarray) -> np.ndarray:
    """Losses with non-finite entries replaced by a finite value worse than the worst finite one."""
    loss = np.asarray(loss, dtype=np.float64)
    finite = np.isfinite(loss)
    if finite.all():
        return loss
    worst = float(loss[finite].max()) if finite.any() else 0.0
    penalty = min(worst + 1.0 + abs(worst), float(np.finfo(np.float64).max))
    return np.where(finite, loss, penalty)


class CMAES:
    """CMA-ES with `popsize` rows per generation, started at x0 (default 0) with step `sigma`.

    With bounds, x0 is clipped into them. `diagonal=None` chooses a diagonal covariance when
    dim > DIAGONAL_ABOVE.
    """

    def __init__(
        self,
        dim: int,
        rng: np.random.Generator,
        *,
        popsize: int = 32,
        x0: np.ndarray | None = None,
        sigma: float = 0.5,
        bounds: Bounds | None = None,
        diagonal: bool | None = None,
    ) -> None:
        check_positive("sigma", sigma)
        if popsize < 2:
            raise ArgumentError(f"cmaes needs popsize >= 2, got {popsize}")
        self.dim = dim
        self.rng = rng
        self.popsize = popsize
        self.sigma = sigma
        self.bounds = box_bounds(bounds, dim)
        self.x0 = centre_point(x0, dim)
        if self.bounds is not None:
            if not (self.bounds[0] < self.bounds[1]).all():
                raise ArgumentError(
                    "cmaes needs lower < upper in every coordinate; keep fixed coordinates out of the search"
                )
            self.x0 = np.clip(self.x0, *self.bounds)  # cma needs a feasible start
        self.diagonal = dim > DIAGONAL_ABOVE if diagonal is None else bool(diagonal)
        self.options = {
            "popsize": popsize,
            "seed": np.nan,  # cma seeds numpy's global RNG only for its default randn; ours is rng
            "randn": self._randn,
            "CMA_diagonal": True if self.diagonal else 0,
            "bounds": [None, None] if self.bounds is None else [self.bounds[0], self.bounds[1]],
            "maxiter": np.inf,
            "maxfevals": np.inf,
            "verbose": -9,
            "verb_log": 0,
            "verb_disp": 0,
        }
        self.restarts = 0
        self.last_termination: dict[str, object] = {}
        self.es = self._start()
        self._asked: np.ndarray | None = None
        self._solutions: list[np.ndarray] = []

    def _randn(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)

    def _start(self) -> cma.CMAEvolutionStrategy:
        return _cma().CMAEvolutionStrategy(self.x0, self.sigma, dict(self.options))

    def ask(self) -> np.ndarray:
        """`popsize` candidates from cma (inside the bounds when bounds are set)."""
        self._solutions = self.es.ask()
        self._asked = np.array(self._solutions)
        return self._asked

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        """Update cma (non-finite losses become the worst); restart if cma terminated."""
        asked = check_told(z, self._asked)
        solutions = self._solutions if np.array_equal(z, asked) else list(np.asarray(z, dtype=np.float64))
        self.es.tell(solutions, finite_fitness(evaluation.loss))
        self._asked = None
        termination = self.es.stop()
        if termination:
            self.last_termination = dict(termination)
            self.restarts += 1
            self.es = self._start()
