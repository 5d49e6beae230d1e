"""Robustness: each input's smallest perturbation (L∞ or L2, model input units, inside the data box) that
changes the model's label, found from queries only.

With scores, Square Attack random search (Andriushchenko et al., ECCV 2020) or our evolution strategies
(momentum ES, CMA-ES: `auditor.search`) on the margin loss, inside a bisection on ε; with labels only, a HopSkipJump-style boundary walk (Chen et al., S&P 2020) from the nearest differently-labelled
reference row, which also gives label-only models counterfactuals. Every input runs in lockstep (one model
call per step for all of them), under a hard per-input query budget, seeded and reproducible bit for bit.

Not-found inputs keep a lower bound (the largest radius tried without a flip): medians over them are
censored (`censored_median`).

Modules: `api` (`robustness`), `params`, `result`, `square`, `evolution`, `schedule` (the ε bisection),
`hopskipjump`, `starts`, `windows`, `box`, `oracle` (the model, counted per input), `outcome`.
"""

from __future__ import annotations

from auditor.explain.robustness.api import robustness
from auditor.explain.robustness.box import Box
from auditor.explain.robustness.params import DEFAULT_BUDGET, METHODS, NORMS, RobustnessParams
from auditor.explain.robustness.result import InputRadius, RobustnessResult, accuracy_curve, censored_median

__all__ = [
    "DEFAULT_BUDGET",
    "METHODS",
    "NORMS",
    "Box",
    "InputRadius",
    "RobustnessParams",
    "RobustnessResult",
    "accuracy_curve",
    "censored_median",
    "robustness",
]
