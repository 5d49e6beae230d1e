"""The one-line summaries the explain commands print on stderr (model text escaped)."""

from __future__ import annotations

import math

import numpy as np

from auditor.cli.output import printable
from auditor.explain.counterfactuals import CounterfactualResult
from auditor.explain.exemplars import ClassExemplars


def exemplars_line(found: ClassExemplars, threshold: float) -> str:
    """How many searches of a class reached `threshold`, the best probability, the queries, the spread."""
    hits = sum(exemplar.success for exemplar in found.exemplars)
    spread = "" if math.isnan(found.mean_distance) else f", mean latent distance {found.mean_distance:.2f}"
    return (
        f"class {found.target} ({printable(found.target_name, 40)}): {hits}/{len(found.exemplars)} with "
        f"p >= {threshold:g}, best p {found.confidence.max():.6f}, {found.queries} queries{spread}"
    )


def counterfactual_line(row: int, result: CounterfactualResult) -> str:
    """Which class a row moved to, how many of its counterfactuals are valid, the best one's figures."""
    names = result.class_names
    best = int(np.argmax(result.valid)) if result.found else 0
    state = (
        f"valid, p={result.confidence[best]:.3f}, scaled L1 {result.l1_scaled[best]:.3g}, "
        f"{int(result.changed[best])} changed"
        if result.found
        else "no valid counterfactual within the budget"
    )
    return (
        f"row {row}: {printable(names[result.source], 40)} -> {printable(names[int(result.targets[best])], 40)}: "
        f"{int(result.valid.sum())}/{len(result.valid)} {state}; {result.queries} queries"
    )
