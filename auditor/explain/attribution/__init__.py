"""Attributions without gradients: occlusion, feature ablation, LIME, KernelSHAP, Gaussian LIME and
one-vs-one maps, every perturbation batched through the model, with faithfulness and sanity figures beside
every map.

For Captum users (the numbers of Captum's own Occlusion and FeatureAblation tests are reproduced in
tests/explain/test_attribution_captum.py):

- ``feature_ablation(model, x, groups=ids)``: ``ids`` are integer (or boolean) group ids shaped like the
  map (image positions, channels together) or like the input (every value), shared by all inputs or one
  mask per input ([N, ...]); ids may repeat anywhere. The same ``groups`` replace LIME's and KernelSHAP's
  grid (``lime(..., groups=ids)``, ``kernel="shap"``).
- ``occlusion(..., window, stride)``: windows start at 0 and step by the stride; the last one is cut at the
  edge, as in Captum. The default stride is half the window (Captum's is 1), recorded in the settings;
  a stride larger than the window is refused. A window with one entry per input dimension
  (``window=(1, 4, 4)`` on NCHW) keeps channels apart and gives a map of the input's shape.
- ``score``: "raw" (the model's output column as it returns it: Captum's ``target`` on the forward's
  output), "probability", "log_probability" (also spelled "log-probability"), "log_odds".
- ``x`` of shape [N, *input] is a batch: all of its rows go out as one stream of calls and the result is
  an ``Attributions`` with one map per input (``.maps``); ``target`` may be one class per input, and a
  baseline of shape [N, ...] or [1, ...] gives one baseline per input.
"""

from __future__ import annotations

from auditor.explain.attribution.ablation import feature_ablation
from auditor.explain.attribution.baselines import BASELINES, parse_baseline, resolve_baseline
from auditor.explain.attribution.core import SCORES, Attribution, Attributions, Features, Model, Score, single
from auditor.explain.attribution.lime import gaussian_lime, lime
from auditor.explain.attribution.methods import GROUPED, METHODS
from auditor.explain.attribution.metrics import (
    Faithfulness,
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

__all__ = [
    "BASELINES",
    "GROUPED",
    "METHODS",
    "SCORES",
    "Attribution",
    "Attributions",
    "Faithfulness",
    "Features",
    "Model",
    "RandomisationCheck",
    "Score",
    "Stability",
    "faithfulness",
    "feature_ablation",
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
    "single",
    "weight_layers",
]
