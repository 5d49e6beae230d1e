"""One input explained end to end: its map by a named method, the map's faithfulness curves and, when asked,
the cascading randomisation check (what `auditor attribute` writes). Not imported by the package: it
brings in the counterfactual search; import it as `auditor.explain.attribution.explanation`.

"counterfactual" is GANMEX's one-vs-one question ("why the target and not the contrast"), with a
counterfactual toward the contrast searched first as the baseline (an array baseline replaces the search).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.errors import ArgumentError
from auditor.explain.attribution.baselines import Baseline, resolve_baseline
from auditor.explain.attribution.core import Attribution, features_of, sample_of, score_kind, single
from auditor.explain.attribution.methods import GROUPED, METHODS
from auditor.explain.attribution.metrics import (
    Faithfulness,
    Method,
    RandomisationCheck,
    faithfulness,
    randomisation_check,
)
from auditor.explain.attribution.onevsone import EXPLAINERS, one_vs_one
from auditor.explain.counterfactuals import (
    DEFAULT_BUDGET,
    CounterfactualParams,
    CounterfactualResult,
    counterfactual,
)
from auditor.jsonable import jsonable
from auditor.model.blackbox import BlackBox
from auditor.model.generator import Encoder, Generator

COUNTERFACTUAL = "counterfactual"  # one-vs-one with a counterfactual baseline, beside `METHODS`
NOISE_METHOD = "gaussian-lime"  # the method that adds Gaussian noise, meaningless on ids and bytes
DISCRETE_NOISE = (
    "gaussian-lime adds Gaussian noise, which ids and bytes cannot take; for a discrete input use "
    "occlusion, feature-ablation or lime"
)


@dataclass(frozen=True, kw_only=True)
class ExplainParams:
    """How `explain_input` explains one input; checked when built.

    - method: a `METHODS` name or "counterfactual" (one-vs-one, its map by `explainer`).
    - target: the class explained (None: the predicted one); contrast: the other class of "counterfactual"
      (None: the runner-up).
    - baseline: what "off" means (BASELINES name, number or array); for "counterfactual" an array replaces
      the search, whose classifier queries are `budget`.
    - window, stride (occlusion; LIME's grid cell), samples, features (LIME), groups (feature-ablation,
      LIME: group ids), score (the scalar explained; not with "counterfactual").
    - steps, orders: the deletion/insertion curves; sanity: also the cascading randomisation check.
    """

    method: str = "occlusion"
    target: int | None = None
    contrast: int | None = None
    baseline: Baseline = "zero"
    window: int | None = None
    stride: int | None = None
    samples: int = 1000
    features: str | None = None
    groups: np.ndarray | None = None
    explainer: str = "occlusion"
    score: str | None = None
    steps: int = 50
    orders: int = 5
    sanity: bool = False
    budget: int = DEFAULT_BUDGET

    def __post_init__(self) -> None:
        if self.method not in (*METHODS, COUNTERFACTUAL):
            raise ArgumentError(
                f"unknown attribution method {self.method!r}; use one of {', '.join((*METHODS, COUNTERFACTUAL))}"
            )
        if self.explainer not in EXPLAINERS:
            raise ArgumentError(f"unknown explainer {self.explainer!r}; use one of {', '.join(EXPLAINERS)}")
        if self.groups is not None and self.method not in GROUPED:
            raise ArgumentError(f"groups apply to the methods {' and '.join(GROUPED)}, not {self.method}")
        if self.method == COUNTERFACTUAL and self.score is not None:
            raise ArgumentError("method counterfactual explains log p_target - log p_contrast; give no score")
        if self.score is not None:
            score_kind(self.score, "probability")  # an unknown score is refused here, in one line

    def shape_options(self, method: str) -> dict[str, Any]:
        """The window, stride, samples and features that `method` (a `METHODS` name or an explainer) takes."""
        if method == "occlusion":
            return {"window": self.window, "stride": self.stride}
        if method == "feature-ablation":
            return {}
        if method == "gaussian-lime":
            return {"samples": self.samples}
        return {"samples": self.samples, "features": self.features, "window": self.window}

    def method_options(self, method: str, reference: np.ndarray | None) -> dict[str, Any]:
        """Every keyword argument that the `METHODS` function `method` takes from these params."""
        options = {**self.shape_options(method), "reference": reference}
        if method != "gaussian-lime":
            options["baseline"] = self.baseline
        if self.groups is not None:
            options["groups"] = self.groups
        if self.score is not None:
            options["score"] = self.score
        return options


@dataclass(frozen=True, eq=False)
class Explanation:
    """One input's map, its faithfulness curves, the model's probabilities for the input, and what else was
    run: the counterfactual searched as the baseline and the randomisation check (None when not run).
    `baseline` is what "off" meant (the counterfactual row for method "counterfactual")."""

    x: np.ndarray
    probabilities: np.ndarray
    attribution: Attribution
    faithfulness: Faithfulness
    baseline: Baseline
    counterfactual: CounterfactualResult | None
    sanity: RandomisationCheck | None
    class_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None): the map's headline figures and its curves at the top, the rest of
        the attribution's figures under "attribution"; the CLI adds the row, seed, model and pictures."""
        attribution = self.attribution
        headline = ("method", "target", "queries", "map", "shape")
        return {
            "method": attribution.method,
            "target": attribution.target,
            "target_name": self.class_names[attribution.target],
            "queries": attribution.queries,
            "shape": list(attribution.shape),
            "map": jsonable(attribution.map),
            **jsonable(self.faithfulness.to_dict()),
            "probabilities": jsonable(self.probabilities),
            "contrast_name": None if attribution.contrast is None else self.class_names[attribution.contrast],
            "attribution": {k: v for k, v in attribution.to_dict().items() if k not in headline},
            "counterfactual": None if self.counterfactual is None else self.counterfactual.entries()[0],
            "sanity": None if self.sanity is None else jsonable(self.sanity.to_dict()),
        }


def runner_up(probabilities: np.ndarray, target: int) -> int:
    """The most likely class other than `target` (ties: the lower index)."""
    return next(int(k) for k in np.argsort(-probabilities, kind="stable") if k != target)


def on_value_set(
    blackbox: BlackBox, x: np.ndarray, baseline: Baseline, reference: np.ndarray | None, rng: int
) -> Baseline:
    """The baseline moved onto a discrete input's value set (ids and bytes are "off" at a value of their
    set: the mean of bytes is rounded, clipped to the range); any other input's baseline as given."""
    values = blackbox.input_values(reference)
    if not values.discrete:
        return baseline
    return values.project(resolve_baseline(baseline, x, features_of(blackbox), reference, rng))


def explain_input(
    blackbox: BlackBox,
    x: np.ndarray,
    params: ExplainParams,
    *,
    generator: Generator | None = None,
    encoder: Encoder | None = None,
    reference: np.ndarray | None = None,
    rng: int = 0,
) -> Explanation:
    """Explain one input x (model layout): the model's probabilities, the counterfactual baseline when
    "counterfactual" asks for one (searched through `generator`/`encoder` when given), the map, its
    deletion/insertion curves against random orders and, with `params.sanity`, the randomisation check
    (seeds rng and rng + 1). `reference` rows set the data-dependent baselines and the search's box."""
    x = sample_of(blackbox, x)
    probabilities = blackbox.predict(x[None])[0]
    target = params.target if params.target is not None else int(np.argmax(probabilities))
    baseline, found = params.baseline, None
    if params.method == NOISE_METHOD and blackbox.discrete_input:
        raise ArgumentError(DISCRETE_NOISE)
    if params.method != COUNTERFACTUAL:
        baseline = on_value_set(blackbox, x, baseline, reference, rng)
        params = replace(params, baseline=baseline)
    if params.method == COUNTERFACTUAL:
        contrast = params.contrast if params.contrast is not None else runner_up(probabilities, target)
        if contrast == target:
            raise ArgumentError(f"contrast {contrast} is the explained class itself; choose another class")
        if not isinstance(baseline, np.ndarray):
            found = counterfactual(
                blackbox,
                x,
                contrast,
                generator=generator,
                encoder=encoder,
                reference=reference,
                params=CounterfactualParams(budget=params.budget),
                rng=rng,
            )
            baseline = found.counterfactuals[0].astype(np.float64)
        method: Method = one_vs_one
        options = {
            "counterfactual": baseline,
            "contrast": contrast,
            "explainer": params.explainer,
            **params.shape_options(params.explainer),
        }
    else:
        method = METHODS[params.method]
        options = params.method_options(params.method, reference)
    attribution = single(method(blackbox, x, target=target, rng=rng, **options))
    curves = faithfulness(
        blackbox,
        x,
        attribution.map,
        target=attribution.target,
        baseline=baseline,
        steps=params.steps,
        orders=params.orders,
        reference=reference,
        rng=rng,
    )
    sanity = None
    if params.sanity:
        seeds = (rng, rng + 1)
        sanity = randomisation_check(
            blackbox, method, x, target=attribution.target, seeds=seeds, rng=rng, **options
        )
    return Explanation(x, probabilities, attribution, curves, baseline, found, sanity, blackbox.class_names)
