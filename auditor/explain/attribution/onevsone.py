"""One-vs-one attributions, GANMEX's idea without gradients (Shih, Tien & Karnin, arXiv 2011.06015):
"why class A and not class B" = occlusion or LIME on the score log p_A - log p_B, with a counterfactual
toward B as the baseline, so "off" means "as in the nearest input the model calls B"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from auditor.errors import ArgumentError
from auditor.explain.attribution.ablation import feature_ablation
from auditor.explain.attribution.core import Attribution, Attributions, Model, Target
from auditor.explain.attribution.lime import lime
from auditor.explain.attribution.occlusion import occlusion

EXPLAINERS: dict[str, Callable[..., Attribution | Attributions]] = {
    "occlusion": occlusion,
    "lime": lime,
    "feature-ablation": feature_ablation,
}


def one_vs_one(
    model: Model,
    x: np.ndarray,
    counterfactual: np.ndarray,
    *,
    contrast: int,
    target: Target = None,
    explainer: str = "occlusion",
    **options: Any,
) -> Attribution | Attributions:
    """Attribute log p_target - log p_contrast (target: the predicted class) with the counterfactual as baseline.

    `gap` = score_input - score_baseline is what the map explains; `total` is the map's own sum to hold against it.
    A batch x [N, ...] takes counterfactuals [N, ...] (one per input), and `target` may be one class per
    input; it gives one Attributions.
    """
    if explainer not in EXPLAINERS:
        raise ArgumentError(f"unknown explainer '{explainer}'; use one of {', '.join(EXPLAINERS)}")
    if "baseline" in options or "score" in options:
        raise ArgumentError(
            "one-vs-one sets the baseline (the counterfactual) and the score (log p_A - log p_B) itself"
        )
    result = EXPLAINERS[explainer](
        model,
        x,
        target=target,
        contrast=contrast,
        baseline=np.asarray(counterfactual),
        score="log_ratio",
        **options,
    )
    if isinstance(result, Attributions):
        return replace(result, items=tuple(relabel(item, explainer) for item in result))
    return relabel(result, explainer)


def relabel(result: Attribution, explainer: str) -> Attribution:
    """An explainer's map as a one-vs-one map, with the gap it explains."""
    assert result.score_baseline is not None  # every explainer scores the all-baseline row
    return replace(
        result,
        method=f"one-vs-one/{explainer}",
        settings={**result.settings, "explainer": explainer, "baseline": "counterfactual"},
        extra={**result.extra, "gap": result.score_input - result.score_baseline},
    )
