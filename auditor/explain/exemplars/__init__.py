"""Class exemplars by zero-order search: inputs that a black box scores as a chosen class.

Follows Barbalau et al., "A Generic and Model-Agnostic Exemplar Synthetization Framework for
Explainable AI" (ECML-PKDD 2020): search a generator's latent space, querying only the classifier,
until the target probability reaches a threshold. With no generator, the search runs in the input
space of tabular rows, inside the box of the reference data's per-feature ranges. All targets of
one round share each generation's batch: one generator call, one classifier call.

Modules, top to bottom: `api` (`exemplars`); `space` (latent space or input box), `objective` (the
loss), `results` (with their JSON form) and `params`. This file only re-exports.
"""

from __future__ import annotations

from auditor.explain.exemplars.api import exemplars
from auditor.explain.exemplars.params import DEFAULT_BUDGET, DEFAULT_PATIENCE, OBJECTIVES, ExemplarParams
from auditor.explain.exemplars.results import ClassExemplars, Exemplar, ExemplarSet
from auditor.explain.exemplars.space import InputBox

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_PATIENCE",
    "OBJECTIVES",
    "ClassExemplars",
    "Exemplar",
    "ExemplarParams",
    "ExemplarSet",
    "InputBox",
    "exemplars",
]
