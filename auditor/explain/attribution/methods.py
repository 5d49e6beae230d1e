"""The attribution methods by name: the one owner of that vocabulary, above the methods themselves."""

from __future__ import annotations

from auditor.explain.attribution.ablation import feature_ablation
from auditor.explain.attribution.lime import gaussian_lime, lime
from auditor.explain.attribution.metrics import Method
from auditor.explain.attribution.occlusion import occlusion

#: Method names -> library functions (one-vs-one, "counterfactual" in `explanation`, needs a contrast).
METHODS: dict[str, Method] = {
    "occlusion": occlusion,
    "feature-ablation": feature_ablation,
    "lime": lime,
    "gaussian-lime": gaussian_lime,
}
GROUPED = ("feature-ablation", "lime")  # the methods that take group ids
