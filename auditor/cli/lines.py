"""The one-line summaries the explain commands print on stderr (model text escaped)."""

from __future__ import annotations

import math

import numpy as np

from auditor.cli.output import printable
from auditor.explain.attribution.explanation import Explanation
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


def attribution_lines(explained: Explanation) -> list[str]:
    """The map's cost and curves beside random orders, the surrogate's fit, the randomisation check; and a
    warning when the counterfactual baseline did not reach the contrast class."""
    result, curves, check = explained.attribution, explained.faithfulness, explained.sanity
    line = (
        f"{result.method} of class {result.target} ({printable(explained.class_names[result.target], 40)}): "
        f"{result.queries} queries in {result.calls} calls, {result.seconds:.3f} s; deletion AUC "
        f"{curves.deletion_auc:.3f} (random {curves.random_deletion_auc:.3f}), insertion AUC "
        f"{curves.insertion_auc:.3f} (random {curves.random_insertion_auc:.3f})"
    )
    if result.fidelity is not None:
        line += f", surrogate R^2 {result.fidelity:.3f}"
    if check is not None:
        line += (
            f"; rank correlation with the map after randomising all {len(check.layers)} layers "
            f"{check.correlations[-1]:.2f} (seed-to-seed {check.seed_correlation:.2f})"
        )
    if explained.counterfactual is None or explained.counterfactual.found:
        return [line]
    return [
        line,
        "auditor: the counterfactual search did not reach the contrast class; the baseline is its closest "
        "attempt (raise --budget or give --generator)",
    ]
