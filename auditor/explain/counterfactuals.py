"""Counterfactuals from queries only: the smallest change that makes the model say B instead of A.

With a generator, the search runs over its latent z from z0 = E(x) (or a zero-order inversion of x)
and minimises proximity + beta·||z − z0||² among valid rows (Liu et al. 2019; GANMEX; DISC, made
gradient-free). Without one, it runs in input space in per-feature scale units (MAD for tables, the
data range for images, whose parameters are grid cells), every row projected onto the data's box and
the feature constraints before it is queried. Input-space rounds go: single-feature probes and, for
tables, the nearest reference rows of the target class (one batch each) choose the start; the search;
then a sparse pass (revert what validity does not need, keep the few most needed features rescaled,
try pairs) and a line search toward x. Proximity there is L1 + λ₀·(units changed) (METHODS.md).

Ranking is feasibility-first: valid rows score log(proximity); invalid rows OFFSET + hinge +
λ·proximity, where hinge = max(0, κ − (log p_t − max_{j≠t} log p_j)) and λ halves after every
generation with no valid row (METHODS.md's "λ_p halves while the search stays invalid", i.e. c
doubles). So the search's best row is the closest valid one, and a search that never flips the class
returns its closest attempt marked invalid. Every classifier query is batched: `counterfactuals`
runs all inputs in lockstep, one model call per generation or phase. Budgets are hard: never exceeded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from auditor.errors import ConfigError, DataError
from auditor.explain.metrics import (
    NearestReference,
    change_tolerance,
    changed_features,
    data_box,
    feature_scale,
    flat,
    l1_distance,
    l2_distance,
    margin,
    reached,
    reconstruction_error,
)
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator
from auditor.search import (
    Evaluation,
    ObjectiveMany,
    Search,
    SearchResult,
    StopRule,
    make_search,
    minimize_lockstep,
)

Target = int | Literal["second", "any"] | Sequence[int] | np.ndarray
IMAGE_LAYOUTS = ("NCHW", "NHWC", "HW")
METHODS = ("cmaes", "es", "momentum_es", "random")
DEFAULT_BUDGET = 2500
DEFAULT_PATIENCE = 15
LATENT_SIGMA = 0.5  # initial step of latent searches, in prior standard deviations
INPUT_POPSIZE = (
    64  # CMA-ES rows per generation in input space: half the generations (and cma's overhead) of 32
)
MIN_DELTA = 1e-3  # on log(proximity): a 0.1 % relative improvement
OFFSET = 1e6  # invalid rows rank after every valid one
PROBE_STEPS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # single-feature probes, in scale units
SHRINK = 8  # points per level of the final line search
KEEP = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20)  # the sparse step tries keeping this many most needed units
RESCALE = (1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
PAIR_UNITS = 5  # pairs among this many most needed and this many best-probed units are tried on a grid
PAIR_GRID = (1 / 3, 2 / 3, 1.0)  # shares of the way to the box edge
REFINE = (0.3, 0.45, 0.6, 0.75, 0.9, 1.0)  # factors tried per unit of the sparsest valid candidate
REFINE_UNITS = 2
START_SHARE = 4  # probes and neighbours may use up to 1/4 of a round's budget
NEIGHBOURS = 32  # nearest reference rows tried as starts (tables)
SEGMENT = 16  # points on the segment from x to the nearest valid neighbour
POLISH_SHARE = 0.4  # the sparse pass and the line search keep this share of it
GRID_CELLS = 8  # default image parameterisation: about 8 x 8 cells per channel


@dataclass(frozen=True)
class FeatureConstraints:
    """What an input-space counterfactual may change: indices into the flattened sample.

    `categorical` entries are either one column holding category codes (snapped to the codes seen
    in the reference data) or a tuple of one-hot columns (exactly one set to 1).
    """

    immutable: tuple[int, ...] = ()
    integer: tuple[int, ...] = ()
    categorical: tuple[int | tuple[int, ...], ...] = ()


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


@dataclass(frozen=True, eq=False)
class FlipMatrix:
    """One-vs-one map: for predicted class a (row) and target b (column), median L2 distance of the
    valid counterfactuals, the share of attempts that succeeded, and how many were attempted."""

    class_names: tuple[str, ...]
    distance: np.ndarray
    success: np.ndarray
    attempts: np.ndarray
    queries: int
    seconds: float


# ---------------------------------------------------------------------------------------- search plumbing


class _Budgeted:
    """A Search that never asks for more rows than its budget has left; `waiting` marks a pending ask."""

    def __init__(self, inner: Search, budget: int, owner: _Task | None = None, index: int = 0) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.remaining = budget
        self.owner = owner
        self.index = index
        self.waiting = False
        self._full: np.ndarray | None = None

    def ask(self) -> np.ndarray:
        full = np.asarray(self.inner.ask(), dtype=np.float64)
        self._full = full
        self.waiting = True
        return full[: max(self.remaining, 1)]

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        assert self._full is not None
        self.waiting = False
        rows = len(z)
        self.remaining -= rows
        loss = np.full(len(self._full), np.inf)
        success = np.zeros(len(self._full), dtype=bool)
        loss[:rows], success[:rows] = evaluation.loss, evaluation.success
        self.inner.tell(self._full, Evaluation(loss, success))
        if self.owner is not None:
            self.owner.generation_done(bool(np.any(evaluation.success)))


def _asking(wrappers: list[_Budgeted], asks: list[np.ndarray]) -> list[_Budgeted]:
    active = [w for w in wrappers if w.waiting]
    if len(active) != len(asks):
        raise RuntimeError(f"lockstep bookkeeping: {len(asks)} asks for {len(active)} waiting searches")
    return active


def _lockstep(
    wrappers: list[_Budgeted], evaluate_many: ObjectiveMany, budget: int, patience: int
) -> list[SearchResult]:
    """minimize_lockstep over searches sharing one budget: the wrappers trim the last generation to it,
    and the shared rule stops each search once it has spent it; ends on budget or patience only."""
    stop = StopRule(budget=budget, patience=patience, min_delta=MIN_DELTA, stop_on_success=False)
    return minimize_lockstep(evaluate_many, wrappers, stop)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- spaces


class _Domain:
    """Scale, box and feature constraints of the flattened input, and the projection onto them."""

    def __init__(
        self,
        shape: tuple[int, ...],
        image: bool,
        reference: np.ndarray | None,
        constraints: FeatureConstraints,
    ) -> None:
        self.shape = shape
        self.size = int(np.prod(shape))
        self.image = image
        if reference is not None:
            ref = flat(reference)
            if ref.shape[1] != self.size:
                raise DataError(f"reference rows have {ref.shape[1]} values, the model takes {self.size}")
            self.scale = feature_scale(ref, per_feature=not image)
            self.box = data_box(ref, per_feature=not image)
        else:
            ref = None
            self.scale = np.ones(self.size)
            self.box = (np.full(self.size, -np.inf), np.full(self.size, np.inf))
        self.tolerance = change_tolerance(self.box, self.scale)
        self.immutable = self._indices(constraints.immutable, "immutable")
        self.integer = self._indices(constraints.integer, "integer")
        self.codes: list[tuple[int, np.ndarray]] = []
        self.onehot: list[np.ndarray] = []
        for entry in constraints.categorical:
            if isinstance(entry, int | np.integer):
                (column,) = self._indices((int(entry),), "categorical")
                values = np.unique(ref[:, column]) if ref is not None else np.empty(0)
                self.codes.append((int(column), values))
            else:
                block = self._indices(tuple(entry), "categorical")
                if len(block) < 2:
                    raise ConfigError("a one-hot categorical block needs at least 2 columns")
                self.onehot.append(block)

    def _indices(self, values: Sequence[int], what: str) -> np.ndarray:
        index = np.asarray(values, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.size):
            raise ConfigError(f"{what} feature indices must be in 0..{self.size - 1}, got {list(values)[:8]}")
        return index

    def project(self, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Clip to the box, keep immutables, round integers, snap category codes, argmax one-hot blocks."""
        rows = np.clip(rows, *self.box)
        if self.immutable.size:
            rows[:, self.immutable] = x[self.immutable]
        if self.integer.size:
            lo, hi = np.ceil(self.box[0][self.integer]), np.floor(self.box[1][self.integer])
            rows[:, self.integer] = np.clip(np.round(rows[:, self.integer]), lo, hi)
        for column, values in self.codes:
            if values.size:
                nearest = np.abs(rows[:, column, None] - values[None, :]).argmin(axis=1)
                rows[:, column] = values[nearest]
            else:
                rows[:, column] = np.round(rows[:, column])
        for block in self.onehot:
            pick = rows[:, block].argmax(axis=1)
            rows[:, block] = 0.0
            rows[np.arange(len(rows)), block[pick]] = 1.0
        return rows


class _InputSpace:
    """Parameters u in scale units; feature f moves by u[param_of[f]]·scale[f] (grid cells for images).

    Proximity is the mean scaled distance plus `weight` per changed unit (a feature, a one-hot block
    or an image cell) over D: the L1 + λ₀·L0 objective of METHODS.md.
    """

    latent = False

    def __init__(self, domain: _Domain, layout: str, cell: int | None, distance: str, weight: float) -> None:
        self.domain = domain
        self.distance = distance
        self.weight = weight
        size = domain.size
        param_of = _cell_index(domain.shape, layout, cell) if domain.image else np.arange(size)
        frozen = np.zeros(size, dtype=bool)
        frozen[domain.immutable] = True
        used = np.unique(param_of[~frozen])
        remap = np.full(int(param_of.max()) + 1, -1)
        remap[used] = np.arange(used.size)
        self.param_of = np.where(frozen, -1, remap[param_of])
        self.dim = max(int(used.size), 1)
        unit_of = self.param_of.copy()
        for block in domain.onehot:
            unit_of[block] = unit_of[block[0]]
        ids = np.unique(unit_of[unit_of >= 0])
        self.units = [np.flatnonzero(unit_of == u) for u in ids]
        unit_index = np.full(int(unit_of.max()) + 2, -1)
        unit_index[ids] = np.arange(ids.size)
        # the unit each parameter moves (parameters of one one-hot block share a unit)
        self.unit_of_param = np.array(
            [unit_index[unit_of[np.argmax(self.param_of == p)]] for p in range(self.dim)]
        )
        self._order = np.concatenate(self.units) if self.units else np.empty(0, dtype=np.int64)
        self._starts = np.cumsum([0] + [len(u) for u in self.units[:-1]])

    def rows(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        padded = np.concatenate([u, np.zeros((len(u), 1))], axis=1)
        return self.domain.project(x + padded[:, self.param_of] * self.domain.scale, x)

    def decode(
        self, tasks: list[_Task], asks: list[np.ndarray], generator_rows: list[int]
    ) -> list[np.ndarray]:
        return [self.rows(task.x, u) for task, u in zip(tasks, asks)]

    def start(self, task: _Task) -> tuple[np.ndarray, float]:
        """Search start: the task's best row so far as parameters (cell means for images), and a step
        of a quarter of its largest parameter when that row is valid, else 1 (scale unit)."""
        delta = (task.best_x - task.x) / self.domain.scale
        mask = self.param_of >= 0
        sums = np.bincount(self.param_of[mask], weights=delta[mask], minlength=self.dim)
        counts = np.bincount(self.param_of[mask], minlength=self.dim)
        u0 = sums / np.maximum(counts, 1)
        if task.best_valid and np.abs(u0).max() > 0:
            return u0, float(np.abs(u0).max()) / 4
        return u0, 1.0

    def changed_units(self, x: np.ndarray, rows: np.ndarray, tolerance: bool = True) -> np.ndarray:
        """(n, units) True where a unit moved by more than its tolerance (at all, with tolerance=False)."""
        if not self.units:
            return np.zeros((len(rows), 0), dtype=bool)
        moved = np.abs(rows - x) > (self.domain.tolerance if tolerance else 0.0)
        return np.logical_or.reduceat(moved[:, self._order], self._starts, axis=1)

    def proximity(self, task: _Task, rows: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        base = _distance(rows, task.x, self.domain.scale, self.distance)
        if self.weight > 0:
            base = base + self.weight * self.changed_units(task.x, rows).sum(axis=1) / self.domain.size
        return base


class _LatentSpace:
    """z -> x' = G(z) (or x + G(z) − G(z0) with `residual`), clipped to the box; beta·||z − z0||² added."""

    latent = True

    def __init__(
        self,
        domain: _Domain,
        generator: Generator,
        to_model: Callable[[np.ndarray], np.ndarray],
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
        self.dim = generator.latent_dim

    def generate(self, z: np.ndarray) -> np.ndarray:
        return flat(self.to_model(self.generator.generate(z)))

    def decode(
        self, tasks: list[_Task], asks: list[np.ndarray], generator_rows: list[int]
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

    def proximity(self, task: _Task, rows: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        assert z is not None and task.z0 is not None
        return _distance(rows, task.x, self.domain.scale, self.distance) + self.beta * (
            (z - task.z0) ** 2
        ).sum(axis=1)


def _distance(rows: np.ndarray, x: np.ndarray, scale: np.ndarray, kind: str) -> np.ndarray:
    """Mean |Δ|/scale (l1) or RMS of Δ/scale (l2) per row."""
    delta = (rows - x) / scale
    return np.sqrt((delta**2).mean(axis=1)) if kind == "l2" else np.abs(delta).mean(axis=1)


def _cell_index(shape: tuple[int, ...], layout: str, cell: int | None) -> np.ndarray:
    """Parameter index of each pixel: one per (channel, cell x cell block)."""
    if layout == "HW":
        channels, height, width = 1, shape[0], shape[1]
    elif layout == "NHWC":
        height, width, channels = shape
    else:
        channels, height, width = shape
    side = cell or max(1, math.ceil(min(height, width) / GRID_CELLS))
    rows, cols = -(-height // side), -(-width // side)
    block = (np.arange(height)[:, None] // side) * cols + (np.arange(width)[None, :] // side)
    index = np.arange(channels)[:, None, None] * (rows * cols) + block[None]
    if layout == "NHWC":
        index = index.transpose(1, 2, 0)
    return index.reshape(-1)


# ---------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class _Settings:
    distance: str
    kappa: float
    tau: float


class _Task:
    """One search: an input, its target, the counterfactuals to keep apart from, and the best row so far."""

    def __init__(
        self,
        index: int,
        x: np.ndarray,
        source: int,
        target: int,
        settings: _Settings,
        scale: np.ndarray,
        apart: list[np.ndarray],
        gap: float,
    ) -> None:
        self.index = index
        self.x = x
        self.source = source
        self.target = target
        self.settings = settings
        self.scale = scale
        self.apart = np.array(apart) if apart else np.empty((0, x.size))
        self.gap = gap
        self.lam = 1.0  # weight of proximity among invalid rows; halves while a search finds none valid
        self.z0: np.ndarray | None = None
        self.g0: np.ndarray | None = None
        self.best_x = x.copy()
        self.best_p: np.ndarray | None = None
        self.best_z: np.ndarray | None = None
        self.best_valid = False
        self.best_score = np.inf
        self.search_best: np.ndarray | None = None  # the search's own best valid row (no L0 term ranks it)
        self.probe_order = np.empty(0, dtype=np.int64)  # units, most promising single-unit probe first
        self.probe_sign: dict[int, float] = {}
        self.stop_reason = "budget"

    def generation_done(self, any_valid: bool) -> None:
        if not any_valid:
            self.lam *= 0.5

    def evaluate(self, rows: np.ndarray, probs: np.ndarray, prox: np.ndarray) -> tuple[np.ndarray, ...]:
        """(loss, valid, score, margin). loss ranks the search: log(proximity) if valid, else
        OFFSET + shortfall + λ·proximity; score ranks rows for keeping: proximity if valid, else OFFSET + shortfall."""
        s = self.settings
        finite = np.isfinite(probs).all(axis=1)
        safe = np.where(finite[:, None], probs, 1.0 / probs.shape[1])
        m = margin(safe, self.target, self.source)
        shortfall = np.maximum(0.0, s.kappa - m)
        if s.tau > 0:
            p_aim = safe[np.arange(len(safe)), reached(safe, self.target, self.source)]
            shortfall += np.maximum(0.0, math.log(s.tau) - np.log(np.maximum(p_aim, 1e-30)))
        if len(self.apart) and self.gap > 0:
            gaps = np.sqrt((((rows[:, None, :] - self.apart[None]) / self.scale) ** 2).mean(axis=2))
            shortfall += np.maximum(0.0, self.gap - gaps).sum(axis=1) / self.gap
        valid = finite & (shortfall <= 0) & (m > 0)
        # log makes the stop rule's absolute min_delta a relative one on proximity
        loss = np.where(valid, np.log(prox + 1e-12), OFFSET + shortfall + self.lam * prox)
        score = np.where(valid, prox, OFFSET + shortfall)
        return np.where(finite, loss, np.inf), valid, np.where(finite, score, np.inf), m

    def offer(
        self, rows: np.ndarray, probs: np.ndarray, valid: np.ndarray, score: np.ndarray, z: np.ndarray | None
    ) -> None:
        """Keep the best of these rows if it beats the best so far (valid first, then closest)."""
        if not len(rows):
            return
        best = int(np.argmin(score))
        if score[best] < self.best_score:
            self.best_score = float(score[best])
            self.best_x = rows[best].copy()
            self.best_p = np.asarray(probs[best], dtype=np.float64).copy()
            self.best_valid = bool(valid[best])
            if z is not None:
                self.best_z = np.asarray(z[best], dtype=np.float64).copy()


# ---------------------------------------------------------------------------------------- the engine


class _Run:
    """State shared by every phase of one `counterfactuals` call: model, space, counters."""

    def __init__(
        self,
        blackbox: BlackBox,
        space: _InputSpace | _LatentSpace,
        generator_rows: list[int],
        method: str,
        popsize: int | None,
        patience: int,
    ) -> None:
        self.blackbox = blackbox
        self.space = space
        self.queries = np.zeros(len(generator_rows), dtype=np.int64)
        self.generator_rows = generator_rows
        self.method = method
        self.popsize = popsize
        self.patience = patience

    def predict(self, batches: list[np.ndarray], owners: list[_Task]) -> list[np.ndarray]:
        """One model call for every task's rows; counts each task's queries."""
        sizes = [len(b) for b in batches]
        if not sum(sizes):
            return [np.empty((0, self.blackbox.n_classes)) for _ in batches]
        rows = np.concatenate([b for b in batches if len(b)])
        probs = self.blackbox.predict(rows.reshape(len(rows), *self.blackbox.input_shape).astype(np.float32))
        for task, size in zip(owners, sizes):
            self.queries[task.index] += size
        return np.split(probs.astype(np.float64), np.cumsum(sizes)[:-1])

    def score(
        self, tasks: list[_Task], batches: list[np.ndarray], zs: Sequence[np.ndarray | None]
    ) -> list[tuple]:
        """Predict every task's rows in one call and let each task keep its best."""
        probs = self.predict(batches, tasks)
        out = []
        for task, rows, p, z in zip(tasks, batches, probs, zs):
            loss, valid, score, m = task.evaluate(rows, p, self.space.proximity(task, rows, z))
            task.offer(rows, p, valid, score, z)
            out.append((loss, valid, score, m))
        return out

    def search(
        self,
        tasks: list[_Task],
        budget: int,
        starts: list[tuple[np.ndarray, float]],
        rngs: list[np.random.Generator],
    ) -> None:
        """The zero-order search for every task in lockstep (one model call per generation), `budget` rows each."""
        if budget < 1:
            return
        wrappers = []
        for task, (x0, sigma), rng in zip(tasks, starts, rngs):
            options: dict[str, object] = {"x0": x0, "sigma": sigma}
            if self.popsize is not None:
                options["popsize"] = self.popsize
            elif self.method == "cmaes" and not self.space.latent:
                options["popsize"] = INPUT_POPSIZE
            wrappers.append(_Budgeted(make_search(self.method, self.space.dim, rng, **options), budget, task))

        def evaluate_many(asks: list[np.ndarray]) -> list[Evaluation]:
            active = _asking(wrappers, asks)
            owners = [w.owner for w in active]
            batches = self.space.decode(owners, asks, self.generator_rows)  # type: ignore[arg-type]
            scored = self.score(owners, batches, list(asks))  # type: ignore[arg-type]
            return [
                Evaluation(loss, valid, {"x": rows}) for (loss, valid, _, _), rows in zip(scored, batches)
            ]

        for task, result in zip(tasks, _lockstep(wrappers, evaluate_many, budget, self.patience)):
            task.stop_reason = result.stop_reason
            if result.best_success:
                task.search_best = np.asarray(result.best_extra["x"], dtype=np.float64)


def _polish(run: _Run, tasks: list[_Task], left: dict[int, int], sparse: bool) -> None:
    """Make valid input-space counterfactuals sparse and tight, in a few batched calls within `left` rows.

    With `sparse`, starting from the search's best valid row:
    1. revert each changed unit alone (one call): the margin each revert costs ranks the units;
    2. keep only the q most needed units (q in KEEP), their change rescaled by RESCALE, and try pairs
       of the most needed units on a grid (one call): a search that converged onto the boundary
       leaves no slack for plain reverts, and L1 optima of tables are often one or two features;
    3. greedy passes over the best row so far: revert every unit validity does not need;
    4. steps 1-2 again from that row.
    Always: 5. a two-level line search from x toward the best row (two calls).
    Each task keeps whichever row scores best (proximity plus the per-unit weight).
    """
    space = run.space
    assert isinstance(space, _InputSpace)
    if sparse:
        dense = {t.index: t.search_best for t in tasks if t.search_best is not None}
        _sparse_step(run, [t for t in tasks if t.index in dense], dense, left, partners=False)
        _revert_passes(run, [t for t in tasks if t.best_valid and left[t.index] > 0], left)
        # once more from the sparse result: its own units re-ranked and re-paired
        current = {t.index: t.best_x.copy() for t in tasks if t.best_valid and left[t.index] > 0}
        _sparse_step(run, [t for t in tasks if t.index in current], current, left, partners=True)
    lower = {t.index: 0.0 for t in tasks}
    grid = np.arange(1, SHRINK + 1) / (SHRINK + 1)
    for _ in range(2):
        shrink = [t for t in tasks if t.best_valid and left[t.index] > 0]
        steps_of = [(lower[t.index] + (1 - lower[t.index]) * grid)[: left[t.index]] for t in shrink]
        batches = [
            space.domain.project(t.x + steps[:, None] * (t.best_x - t.x), t.x)
            for t, steps in zip(shrink, steps_of)
        ]
        scored = run.score(shrink, batches, [None] * len(shrink))
        for task, steps, (_, valid, _, _) in zip(shrink, steps_of, scored):
            left[task.index] -= len(steps)
            # next level: between the last invalid step and the best row (now the first valid step)
            first = int(np.argmax(valid)) if valid.any() else len(steps)
            lower[task.index] = (
                0.0 if first == 0 else float(steps[first - 1] / (steps[first] if valid.any() else 1.0))
            )


def _sparse_step(
    run: _Run, tasks: list[_Task], bases: dict[int, np.ndarray], left: dict[int, int], partners: bool
) -> None:
    """Rank the units each base changed by the margin their single revert costs (one call), try the
    sparse candidates built from that ranking (one call), then refine the sparsest valid one on a
    per-unit grid toward x (one call), so that it competes at its best with denser rows."""
    space = run.space
    assert isinstance(space, _InputSpace)
    singles, ids_of = [], []
    for task in tasks:
        base = bases[task.index]
        ids = np.flatnonzero(space.changed_units(task.x, base[None], tolerance=False)[0])[
            : max(left[task.index], 0)
        ]
        rows = np.repeat(base[None], len(ids), axis=0)
        for r, unit in enumerate(ids):
            rows[r, space.units[unit]] = task.x[space.units[unit]]
        singles.append(rows)
        ids_of.append(ids)
    scored = run.score(tasks, singles, [None] * len(tasks))
    candidates = []
    for task, ids, (_, _, _, m) in zip(tasks, ids_of, scored):
        left[task.index] -= len(ids)
        order = ids[np.argsort(m, kind="stable")]  # lowest margin after reverting = most needed
        rows = _sparse_candidates(space, task, bases[task.index], order, partners)[: max(left[task.index], 0)]
        candidates.append(space.domain.project(rows, task.x))
        left[task.index] -= len(rows)
    scored = run.score(tasks, candidates, [None] * len(tasks))
    refined = []
    for task, rows, (_, valid, score, _) in zip(tasks, candidates, scored):
        refined.append(_refine_sparsest(space, task, rows[valid], score[valid])[: max(left[task.index], 0)])
        left[task.index] -= len(refined[-1])
    run.score(tasks, refined, [None] * len(tasks))


def _refine_sparsest(space: _InputSpace, task: _Task, rows: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The valid row changing the fewest units (best score among those), each of its units (at most
    REFINE_UNITS) scaled by every combination of REFINE factors."""
    if not len(rows):
        return np.empty((0, task.x.size))
    units = space.changed_units(task.x, rows, tolerance=False)
    count = units.sum(axis=1)
    pick = int(np.lexsort((score, count))[0])
    moved = np.flatnonzero(units[pick])
    if not 0 < moved.size <= REFINE_UNITS:
        return np.empty((0, task.x.size))
    delta = rows[pick] - task.x
    factors = np.array(np.meshgrid(*[REFINE] * moved.size, indexing="ij")).reshape(moved.size, -1).T
    out = np.repeat(task.x[None], len(factors), axis=0)
    for j, unit in enumerate(moved):
        features = space.units[unit]
        out[:, features] += factors[:, j, None] * delta[features]
    return space.domain.project(out, task.x)


def _sparse_candidates(
    space: _InputSpace, task: _Task, base: np.ndarray, order: np.ndarray, partners: bool
) -> np.ndarray:
    """Rows that change few units: the q most needed units of `base` rescaled (q in KEEP, factors in
    RESCALE); every pair from the PAIR_UNITS most needed and the PAIR_UNITS best-probed units, on a
    grid toward the box edge in the direction they moved (or were probed); with `partners`, also the
    most needed unit paired with every other unit."""
    x = task.x
    delta = base - x
    lower, upper = space.domain.box
    rows = []
    for q in (q for q in KEEP if q < len(order)):
        keep = np.concatenate([space.units[u] for u in order[:q]])
        kept = np.zeros_like(delta)
        kept[keep] = delta[keep]
        rows.extend(x + factor * kept for factor in RESCALE)

    def reaches(unit: int) -> list[np.ndarray]:
        features = space.units[unit]
        moved = delta[features]
        if not (moved != 0).any() and unit in task.probe_sign:
            moved = np.full(len(features), task.probe_sign[unit])
        if (moved != 0).any():
            edge = np.where(moved > 0, upper[features], lower[features]) - x[features]
            return [np.where(np.isfinite(edge), edge, 4 * moved * space.domain.scale[features])]
        ends = (upper[features] - x[features], lower[features] - x[features])
        return [e for e in ends if np.isfinite(e).all() and (e != 0).any()]

    pool = list(
        dict.fromkeys([int(u) for u in order[:PAIR_UNITS]] + [int(u) for u in task.probe_order[:PAIR_UNITS]])
    )
    pairs = [(pool[a], pool[b]) for a in range(len(pool)) for b in range(a + 1, len(pool))]
    if partners and len(order):
        pairs += [(int(order[0]), u) for u in range(len(space.units)) if u not in pool]
    grid = np.array(PAIR_GRID)
    steps_a, steps_b = np.repeat(grid, grid.size)[:, None], np.tile(grid, grid.size)[:, None]
    blocks = [np.array(rows)] if rows else []
    for first, second in pairs:
        ua, ub = space.units[first], space.units[second]
        for ra in reaches(first):
            for rb in reaches(second):
                block = np.repeat(x[None], grid.size**2, axis=0)
                block[:, ua] += steps_a * ra
                block[:, ub] += steps_b * rb
                blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty((0, x.size))


def _revert_passes(run: _Run, tasks: list[_Task], left: dict[int, int]) -> None:
    """Greedy reverts: each pass tries every single-unit revert in one call, then the longest valid prefix
    of the valid ones (most margin kept first) in a second call; repeats while any revert stays valid."""
    space = run.space
    assert isinstance(space, _InputSpace)
    active = tasks
    while active:
        tries, units_tried = [], []
        for task in active:
            ids = np.flatnonzero(space.changed_units(task.x, task.best_x[None], tolerance=False)[0])[
                : left[task.index]
            ]
            rows = np.repeat(task.best_x[None], len(ids), axis=0)
            for r, unit in enumerate(ids):
                rows[r, space.units[unit]] = task.x[space.units[unit]]
            tries.append(rows)
            units_tried.append(ids)
        scored = run.score(active, tries, [None] * len(active))
        prefixes = []
        for task, base, ids, (_, valid, _, m) in zip(
            active, [t.best_x.copy() for t in active], units_tried, scored
        ):
            left[task.index] -= len(ids)
            order = [int(i) for i in np.argsort(-m, kind="stable") if valid[i]]
            rows = []
            for j in range(2, min(len(order), left[task.index] + 1) + 1):
                row = base.copy()
                for i in order[:j]:
                    row[space.units[ids[i]]] = task.x[space.units[ids[i]]]
                rows.append(row)
            prefixes.append(np.array(rows) if rows else np.empty((0, base.size)))
        run.score(active, prefixes, [None] * len(active))
        for task, rows in zip(active, prefixes):
            left[task.index] -= len(rows)
        active = [t for t, (_, valid, _, _) in zip(active, scored) if valid.any() and left[t.index] > 0]


def _probe(run: _Run, tasks: list[_Task]) -> None:
    """Single-parameter steps (± PROBE_STEPS scale units), every task's in one call; each keeps its best."""
    space = run.space
    assert isinstance(space, _InputSpace)
    steps = np.concatenate([np.array(PROBE_STEPS), -np.array(PROBE_STEPS)])
    u = np.zeros((space.dim * steps.size, space.dim))
    u[np.arange(len(u)), np.repeat(np.arange(space.dim), steps.size)] = np.tile(steps, space.dim)
    batches = [space.rows(t.x, u) for t in tasks]
    keep = [np.flatnonzero(np.abs(b - t.x).max(axis=1) > 0) for b, t in zip(batches, tasks)]
    scored = run.score(tasks, [b[k] for b, k in zip(batches, keep)], [None] * len(tasks))
    for task, k, (_, _, _, m) in zip(tasks, keep, scored):
        # rank units by the best margin a probe along them reached; remember that probe's direction
        units = space.unit_of_param[k // steps.size]
        order = np.lexsort((-m, units))
        first = np.unique(units[order], return_index=True)[1]
        best_unit, best_margin = units[order][first], m[order][first]
        task.probe_order = best_unit[np.argsort(-best_margin, kind="stable")]
        task.probe_sign = dict(zip(best_unit.tolist(), np.sign(steps[k[order][first] % steps.size]).tolist()))


def _neighbours(run: _Run, tasks: list[_Task], reference: np.ndarray) -> None:
    """Nearest unlike neighbours: each task's NEIGHBOURS nearest reference rows (scaled distance, projected
    onto its constraints) in one call, then the segment from x to the nearest valid one in a second call."""
    space = run.space
    assert isinstance(space, _InputSpace)
    scale = space.domain.scale
    ref = reference / scale
    batches = []
    for task in tasks:
        d2 = ((ref - task.x / scale) ** 2).sum(axis=1)
        nearest = np.argsort(d2, kind="stable")[:NEIGHBOURS]
        batches.append(space.domain.project(reference[nearest].copy(), task.x))
    scored = run.score(tasks, batches, [None] * len(tasks))
    segments = []
    for task, rows, (_, valid, score, _) in zip(tasks, batches, scored):
        if not valid.any():
            segments.append(np.empty((0, task.x.size)))
            continue
        goal = rows[int(np.argmin(score))]
        t = np.arange(1, SEGMENT + 1)[:, None] / (SEGMENT + 1)
        segments.append(space.domain.project(task.x + t * (goal - task.x), task.x))
    run.score(tasks, segments, [None] * len(tasks))


def _invert(
    generator_space: _LatentSpace,
    x: np.ndarray,
    budget: int,
    rngs: list[np.random.Generator],
    method: str,
    scale: np.ndarray,
    patience: int,
    generator_rows: list[int],
) -> np.ndarray:
    """Zero-order inversion: argmin_z mean(((G(z) − x)/scale)²), generator queries only, all inputs in lockstep."""
    d = generator_space.dim
    wrappers = [
        _Budgeted(make_search(method, d, rng, sigma=1.0), budget, index=i) for i, rng in enumerate(rngs)
    ]

    def evaluate_many(asks: list[np.ndarray]) -> list[Evaluation]:
        active = _asking(wrappers, asks)
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

    return np.array([r.best_z for r in _lockstep(wrappers, evaluate_many, budget, patience)])


def _new_task(
    i: int,
    x: np.ndarray,
    earlier: list[_Task],
    source: int,
    target: int,
    settings: _Settings,
    scale: np.ndarray,
    diversity: float,
) -> _Task:
    """The next search for input i, kept `diversity` x (first counterfactual's distance) from earlier ones."""
    previous = [t.best_x for t in earlier]
    gap = diversity * float(np.sqrt((((earlier[0].best_x - x) / scale) ** 2).mean())) if earlier else 0.0
    return _Task(i, x, source, target, settings, scale, previous, gap)


# ---------------------------------------------------------------------------------------- public API


def counterfactuals(
    blackbox: BlackBox,
    X: np.ndarray,
    target: Target = "second",
    *,
    generator: Generator | None = None,
    encoder: Encoder | None = None,
    reference: np.ndarray | None = None,
    constraints: FeatureConstraints = FeatureConstraints(),
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
    _check_options(
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
    targets = _resolve_targets(target, probs0, blackbox.n_classes)
    image = blackbox.layout in IMAGE_LAYOUTS
    domain = _Domain(shape, image, reference, constraints)
    settings = _Settings(distance, kappa, tau)

    space: _InputSpace | _LatentSpace
    z0: np.ndarray | None = None
    z0_error: np.ndarray | None = None
    generator_rows = [0] * n
    if generator is not None:
        generator_shape = generator.output_shape

        def to_model(images: np.ndarray) -> np.ndarray:
            return blackbox.prepare(images)

        space = _LatentSpace(domain, generator, to_model, residual, distance, beta)
        if encoder is not None:
            z0 = np.asarray(
                encoder.encode(_to_shape(X, generator_shape).astype(np.float32)), dtype=np.float64
            )
            if z0.shape != (n, generator.latent_dim):
                raise DataError(
                    f"the encoder returns {z0.shape[1]} values per row, the generator takes {generator.latent_dim}"
                )
            for i in range(n):
                generator_rows[i] += 1
        else:
            z0 = _invert(
                space,
                xs,
                inversion_budget,
                list(rng.spawn(n)),
                method,
                domain.scale,
                patience,
                generator_rows,
            )
        g0 = space.generate(z0)
        for i in range(n):
            generator_rows[i] += 1
        z0_error = np.sqrt((((g0 - xs) / domain.scale) ** 2).mean(axis=1))
    else:
        weight = sparsity if sparse and distance == "l1" else 0.0
        space = _InputSpace(domain, blackbox.layout, cell, distance, weight)
        g0 = None

    run = _Run(blackbox, space, generator_rows, method, popsize, patience)
    run.queries += 1  # each input's own prediction
    round_budget = (budget - 1) // k
    found: list[list[_Task]] = [[] for _ in range(n)]
    todo = [i for i in range(n) if targets[i] != source[i]]
    for _ in range(k):
        tasks = [
            _new_task(i, xs[i], found[i], int(source[i]), int(targets[i]), settings, domain.scale, diversity)
            for i in todo
        ]
        if not tasks:
            break
        rngs = list(rng.spawn(len(tasks)))
        if isinstance(space, _LatentSpace):
            assert z0 is not None and g0 is not None
            for task in tasks:
                task.z0, task.g0 = z0[task.index], g0[task.index]
            run.search(tasks, round_budget, [(task.z0, sigma or LATENT_SIGMA) for task in tasks], rngs)
        else:
            neighbours = flat(reference) if reference is not None and not image else None
            _input_round(run, tasks, rngs, round_budget, neighbours, sigma, sparse)
        for task in tasks:
            found[task.index].append(task)
    seconds = (time.perf_counter() - start_time) / n
    return _results(
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


def _input_round(
    run: _Run,
    tasks: list[_Task],
    rngs: list[np.random.Generator],
    budget: int,
    neighbours: np.ndarray | None,
    sigma: float | None,
    sparse: bool,
) -> None:
    """One input-space round within `budget` rows per task: starts (probes, nearest unlike
    neighbours; up to 1/START_SHARE), the search, then the polish (POLISH_SHARE kept for it)."""
    space = run.space
    assert isinstance(space, _InputSpace)
    spent = run.queries.copy()
    allowance = budget // START_SHARE
    probe_rows = 2 * len(PROBE_STEPS) * space.dim
    if probe_rows <= allowance:
        _probe(run, tasks)
        allowance -= probe_rows
    if neighbours is not None and allowance >= NEIGHBOURS + SEGMENT:
        _neighbours(run, tasks, neighbours)
    starts = [space.start(t) for t in tasks]
    used = max(int(run.queries[t.index] - spent[t.index]) for t in tasks)
    search_budget = budget - used - int(budget * POLISH_SHARE)
    run.search(tasks, search_budget, [(u0, sigma or step) for u0, step in starts], rngs)
    left = {t.index: budget - int(run.queries[t.index] - spent[t.index]) for t in tasks}
    _polish(run, tasks, left, sparse)


def counterfactual(
    blackbox: BlackBox, x: np.ndarray, target: Target = "second", **options: object
) -> CounterfactualResult:
    """Counterfactuals for one sample x (model layout, with or without a batch axis of 1); see `counterfactuals`."""
    x = np.asarray(x)
    batch = x[None] if x.shape == blackbox.input_shape or x.ndim == len(blackbox.input_shape) else x
    if len(batch) != 1:
        raise DataError(f"counterfactual() takes one sample, got {len(batch)} rows; use counterfactuals()")
    return counterfactuals(blackbox, batch, target, **options)[0]  # type: ignore[arg-type]


def flip_matrix(blackbox: BlackBox, X: np.ndarray, **options: object) -> FlipMatrix:
    """One-vs-one: a counterfactual from each row's predicted class a to every other class b, all in
    lockstep; per (a, b) the median L2 distance of the valid ones and the share that succeeded."""
    start_time = time.perf_counter()
    X = blackbox.prepare(np.asarray(X))
    k_classes = blackbox.n_classes
    labels = blackbox.predict_labels(X)
    rows, goals = [], []
    for i, a in enumerate(labels):
        for b in range(k_classes):
            if a >= 0 and b != a:
                rows.append(i)
                goals.append(b)
    distance = np.full((k_classes, k_classes), np.nan)
    success = np.full((k_classes, k_classes), np.nan)
    attempts = np.zeros((k_classes, k_classes), dtype=np.int64)
    queries = len(X)
    if rows:
        results = counterfactuals(blackbox, X[np.array(rows)], np.array(goals), **options)  # type: ignore[arg-type]
        queries += sum(r.queries for r in results)
        pairs: dict[tuple[int, int], list[CounterfactualResult]] = {}
        for r in results:
            pairs.setdefault((r.source, r.target), []).append(r)
        for (a, b), group in pairs.items():
            attempts[a, b] = len(group)
            ok = [float(r.l2[0]) for r in group if r.valid[0]]
            success[a, b] = len(ok) / len(group)
            if ok:
                distance[a, b] = float(np.median(ok))
    return FlipMatrix(
        blackbox.class_names, distance, success, attempts, queries, time.perf_counter() - start_time
    )


# ---------------------------------------------------------------------------------------- helpers


def _check_options(
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


def _resolve_targets(target: Target, probs: np.ndarray, k_classes: int) -> np.ndarray:
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


def _to_shape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
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


def _results(
    blackbox: BlackBox,
    X: np.ndarray,
    probs0: np.ndarray,
    source: np.ndarray,
    targets: np.ndarray,
    found: list[list[_Task]],
    k: int,
    domain: _Domain,
    reference: np.ndarray | None,
    generator: Generator | None,
    encoder: Encoder | None,
    z0: np.ndarray | None,
    z0_error: np.ndarray | None,
    run: _Run,
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
        images = _to_shape(everything.reshape(len(everything), *shape), generator.output_shape)
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
