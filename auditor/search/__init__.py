"""Zero-order search: ask/tell over batched queries, budgeted in model queries.

Pure numpy and `cma`; nothing here knows about ONNX. Build a search with `make_search` and run it
with `minimize` (or `minimize_lockstep` to batch several independent searches together).
"""

from __future__ import annotations

from auditor.search.base import (
    METHODS,
    Evaluation,
    Generation,
    Objective,
    ObjectiveMany,
    Search,
    SearchError,
    SearchResult,
    StopReason,
    StopRule,
    make_search,
    minimize,
    minimize_lockstep,
)
from auditor.search.cma import CMAES
from auditor.search.momentum_es import MomentumES
from auditor.search.random import RandomSearch

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
    "SearchError",
    "SearchResult",
    "StopReason",
    "StopRule",
    "make_search",
    "minimize",
    "minimize_lockstep",
]
