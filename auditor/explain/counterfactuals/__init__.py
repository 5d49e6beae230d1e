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

Modules, top to bottom: `api` (the public searches) and `flip` (the flip matrix); `assembly` (results
from the searches' best rows) and `summary` (aggregates); the generator path `latent` and the
input-space path `input_search` → `sparsity` → `input_space`; `engine` (budgeted lockstep searches
over any `space.Space`); `objective` (ranking, one `Task` per search); `domain` (constraints, box,
scale); `results`, `params`, `targets` and `measures` (validity, distances, realism) at the bottom.
This file only re-exports.
"""

from __future__ import annotations

from auditor.explain.counterfactuals.api import counterfactual, counterfactuals
from auditor.explain.counterfactuals.domain import FeatureConstraints
from auditor.explain.counterfactuals.flip import FlipMatrix, flip_matrix, flip_table
from auditor.explain.counterfactuals.params import (
    DEFAULT_BUDGET,
    DEFAULT_PATIENCE,
    DISTANCES,
    CounterfactualParams,
    Distance,
)
from auditor.explain.counterfactuals.results import CounterfactualResult
from auditor.explain.counterfactuals.summary import CounterfactualSummary, summarize
from auditor.explain.counterfactuals.targets import NAMED_TARGETS, NamedTarget, Target

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_PATIENCE",
    "DISTANCES",
    "NAMED_TARGETS",
    "CounterfactualParams",
    "CounterfactualResult",
    "CounterfactualSummary",
    "Distance",
    "FeatureConstraints",
    "FlipMatrix",
    "NamedTarget",
    "Target",
    "counterfactual",
    "counterfactuals",
    "flip_matrix",
    "flip_table",
    "summarize",
]
