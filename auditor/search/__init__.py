"""Zero-order search: ask/tell over batched queries, budgeted in model queries.

Pure numpy and `cma`; nothing here knows about ONNX. Build a search with `make_search` and run it
with `minimize` (or `minimize_lockstep` to batch several independent searches together).

Modules, top to bottom: `registry` (method names, `make_search`) above the strategies `cma`,
`momentum_es` and `random`; `driver` (the loops); `protocol` (the ask/tell contract, results) and
`arguments` (shared argument checks) at the bottom.
"""

from __future__ import annotations

from auditor.search.cma import CMAES
from auditor.search.driver import minimize, minimize_lockstep
from auditor.search.momentum_es import MomentumES
from auditor.search.protocol import (
    Evaluation,
    Generation,
    Objective,
    ObjectiveMany,
    Search,
    SearchResult,
    StopReason,
    StopRule,
)
from auditor.search.random import RandomSearch
from auditor.search.registry import METHODS, canonical_method, make_search

__all__ = [
    "CMAES",
    "METHODS",
    "Evaluation",
    "Generation",
    "MomentumES",
    "Objective",
    "ObjectiveMany",
    "RandomSearch",
    "Search",
    "SearchResult",
    "StopReason",
    "StopRule",
    "canonical_method",
    "make_search",
    "minimize",
    "minimize_lockstep",
]
