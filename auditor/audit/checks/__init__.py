"""The audit's checks. Each is a plan of work units and two pure functions over them.

`plan(context, settings, seed)` splits the work into slices (rows or classes); `run(context,
settings, unit)` computes one slice's partial result from the shared black box, using only the
unit's seed; `merge(context, settings, parts)` turns the partial results into an `Outcome`. The
runner maps units (locally today; another process or machine later) and merges, so a check never
knows how its units were executed. One module per check; `core` holds what they share.
"""

from __future__ import annotations

from typing import Any

from auditor.audit.checks.accuracy import ACCURACY, calibration
from auditor.audit.checks.attributions import ATTRIBUTIONS
from auditor.audit.checks.context import IMAGE_LAYOUTS, Context, configured_options
from auditor.audit.checks.core import Check, Slice, Unit, settings_dict, time_limit
from auditor.audit.checks.counterfactuals import COUNTERFACTUALS
from auditor.audit.checks.exemplars import EXEMPLARS
from auditor.audit.checks.inputs import pick_rows
from auditor.audit.checks.onevsone import ONE_VS_ONE
from auditor.audit.checks.provenance import PROVENANCE
from auditor.audit.checks.robustness import ROBUSTNESS
from auditor.audit.checks.stability import STABILITY
from auditor.audit.checks.text import TEXT_CHECKS
from auditor.audit.config import AuditConfig
from auditor.audit.results import Criterion, Figure, Outcome, Stage
from auditor.audit.seeds import unit_seed

#: Every check, in report order.
CHECKS: tuple[Check[Any, Any], ...] = (
    PROVENANCE,
    ACCURACY,
    STABILITY,
    EXEMPLARS,
    COUNTERFACTUALS,
    ATTRIBUTIONS,
    ROBUSTNESS,
    ONE_VS_ONE,
)


def listed_checks(config: AuditConfig, text: bool = False) -> tuple[Check[Any, Any], ...]:
    """The checks a report lists for this config: every check but the opt-in ones it does not name; for a
    text model (`text`), each in its text form (`checks.text`)."""
    listed = (TEXT_CHECKS.get(check.name, check) if text else check for check in CHECKS)
    return tuple(check for check in listed if check.listed(config))


__all__ = [
    "ACCURACY",
    "ATTRIBUTIONS",
    "CHECKS",
    "COUNTERFACTUALS",
    "EXEMPLARS",
    "IMAGE_LAYOUTS",
    "ONE_VS_ONE",
    "PROVENANCE",
    "ROBUSTNESS",
    "STABILITY",
    "Check",
    "Context",
    "Criterion",
    "Figure",
    "Outcome",
    "Slice",
    "Stage",
    "Unit",
    "calibration",
    "configured_options",
    "listed_checks",
    "pick_rows",
    "settings_dict",
    "time_limit",
    "unit_seed",
]
