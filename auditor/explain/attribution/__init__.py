"""Attributions without gradients: occlusion, LIME, KernelSHAP, Gaussian LIME and one-vs-one maps, every
perturbation batched through the model, with faithfulness and sanity figures beside every map."""

from __future__ import annotations

from auditor.explain.attribution.baselines import BASELINES, parse_baseline, resolve_baseline
from auditor.explain.attribution.core import SCORES, Attribution, Features, Model, Score
from auditor.explain.attribution.lime import gaussian_lime, lime
from auditor.explain.attribution.metrics import (
    Faithfulness,
    Method,
    RandomisationCheck,
    Stability,
    faithfulness,
    randomisation_check,
    randomise,
    rank_correlation,
    seed_stability,
    weight_layers,
)
from auditor.explain.attribution.occlusion import occlusion
from auditor.explain.attribution.onevsone import one_vs_one

#: CLI method names -> library functions (one-vs-one needs a counterfactual and is wired separately).
METHODS: dict[str, Method] = {"occlusion": occlusion, "lime": lime, "gaussian-lime": gaussian_lime}

__all__ = [
    "BASELINES",
    "METHODS",
    "SCORES",
    "Attribution",
    "Faithfulness",
    "Features",
    "Model",
    "RandomisationCheck",
    "Score",
    "Stability",
    "faithfulness",
    "gaussian_lime",
    "lime",
    "occlusion",
    "one_vs_one",
    "parse_baseline",
    "randomisation_check",
    "randomise",
    "rank_correlation",
    "resolve_baseline",
    "seed_stability",
    "weight_layers",
]
