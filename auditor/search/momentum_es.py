"""Elitist evolution strategy with momentum in the mutation.

Follows Barbalau, Cosma, Ionescu, Popescu, "A Generic and Model-Agnostic Exemplar Synthetization
Framework for Explainable AI" (ECML-PKDD 2020), as released in github.com/antoniobarbalau/exemplar
(`ESMomentum`): a (k + k·m)-ES. Each generation keeps the k best rows seen (elites, with their
losses cached so they are never re-queried); each elite makes m children
`z = z_parent + v`, `v = μ·v_parent + (1 − μ)·N(0, σ²I)`, or `v = N(0, σ²I)` for a parent
without velocity (the initial population). Unlike the released scripts, stopping, best-so-far
tracking and the query budget are handled by `auditor.search.driver.minimize`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from auditor.errors import ArgumentError
from auditor.search.arguments import Bounds, box_bounds, centre_point, check_positive, check_told
from auditor.search.protocol import Evaluation


class MomentumES:
    """(elites + elites·children)-ES with momentum; the first ask is `init_size` rows.

    Initial population: `init="normal"` draws N(x0, s²I) with s = 1 (the prior) when x0 is
    None and s = `sigma` when x0 is given; `init="uniform"` draws x0 + U(−init_box, init_box).
    With `bounds`, every row is clipped and a child's velocity is its clipped displacement.
    """

    def __init__(
        self,
        dim: int,
        rng: np.random.Generator,
        *,
        x0: np.ndarray | None = None,
        sigma: float = 0.5,
        bounds: Bounds | None = None,
        init: Literal["normal", "uniform"] = "normal",
        init_size: int = 50,
        elites: int = 10,
        children: int = 2,
        momentum: float = 0.3,
        init_box: float = 5.0,
    ) -> None:
        check_positive("sigma", sigma)
        check_positive("init_box", init_box)
        if init not in ("normal", "uniform"):
            raise ArgumentError(f"init must be 'normal' or 'uniform', got {init!r}")
        for name, value in (("init_size", init_size), ("elites", elites), ("children", children)):
            if value < 1:
                raise ArgumentError(f"{name} must be at least 1, got {value}")
        if not 0 <= momentum < 1:
            raise ArgumentError(f"momentum must be in [0, 1), got {momentum}")
        self.dim = dim
        self.rng = rng
        self.centre = centre_point(x0, dim)
        self.init_scale = 1.0 if x0 is None else sigma
        self.sigma = sigma
        self.bounds = box_bounds(bounds, dim)
        self.init = init
        self.init_size = init_size
        self.elites = elites
        self.children = children
        self.momentum = momentum
        self.init_box = init_box
        self.elite_z = np.empty((0, dim))
        self.elite_velocity = np.empty((0, dim))
        self.elite_moving = np.empty(0, dtype=bool)
        self.elite_loss = np.empty(0)
        self.generation = 0
        self._asked: np.ndarray | None = None
        self._asked_velocity = np.empty((0, dim))
        self._asked_moving = np.empty(0, dtype=bool)

    def _clip(self, z: np.ndarray) -> np.ndarray:
        return z if self.bounds is None else np.clip(z, *self.bounds)

    def ask(self) -> np.ndarray:
        """The initial population, then elites·children new rows (elites are not re-asked)."""
        if self.generation == 0:
            shape = (self.init_size, self.dim)
            if self.init == "normal":
                z = self.centre + self.init_scale * self.rng.standard_normal(shape)
            else:
                z = self.centre + self.rng.uniform(-self.init_box, self.init_box, shape)
            z = self._clip(z)
            velocity = np.zeros(shape)
            moving = np.zeros(self.init_size, dtype=bool)
        else:
            parents = np.repeat(np.arange(self.elite_z.shape[0]), self.children)
            noise = self.rng.normal(0.0, self.sigma, (parents.size, self.dim))
            inherited = self.momentum * self.elite_velocity[parents] + (1.0 - self.momentum) * noise
            velocity = np.where(self.elite_moving[parents, None], inherited, noise)
            start = self.elite_z[parents]
            z = self._clip(start + velocity)
            if self.bounds is not None:
                velocity = z - start
            moving = np.ones(parents.size, dtype=bool)
        self._asked, self._asked_velocity, self._asked_moving = z, velocity, moving
        return z

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        """Keep the best `elites` of cached elites and new rows (ties favour the older rows)."""
        check_told(z, self._asked)
        loss = np.asarray(evaluation.loss, dtype=np.float64)
        loss = np.where(np.isfinite(loss), loss, np.inf)
        pool_loss = np.concatenate([self.elite_loss, loss])
        keep = np.argsort(pool_loss, kind="stable")[: self.elites]
        self.elite_z = np.concatenate([self.elite_z, z])[keep]
        self.elite_velocity = np.concatenate([self.elite_velocity, self._asked_velocity])[keep]
        self.elite_moving = np.concatenate([self.elite_moving, self._asked_moving])[keep]
        self.elite_loss = pool_loss[keep]
        self.generation += 1
        self._asked = None
