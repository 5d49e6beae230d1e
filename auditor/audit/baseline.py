"""The comparison with an earlier report.json: each check's headline figure then and now, and the worst regression."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from auditor.audit.results import SCHEMA_VERSION, CheckResult, Criterion, Stage, figure_text, judged_status
from auditor.errors import ConfigError


def load_baseline(path: Path) -> dict[str, Any]:
    """An earlier report.json; raise ConfigError when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such baseline report; pass an earlier audit's report.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable report.json ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list) or "schema_version" not in doc:
        raise ConfigError(f"{path}: not an auditor report.json (no schema_version or checks)")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: report schema {doc['schema_version']} differs from this tool's {SCHEMA_VERSION}"
        )
    return doc


def _finite(value: Any) -> float | None:
    """A number read from a baseline report, or None when it is absent, not a number, or NaN/infinite."""
    if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def compare_baseline(
    results: list[CheckResult], baseline: dict[str, Any], max_regression: float
) -> CheckResult:
    """Per check, the change of the headline figure since the baseline; fails when one worsened by more than allowed."""
    started = time.perf_counter()
    old = {c["name"]: c for c in baseline["checks"] if isinstance(c, dict) and isinstance(c.get("name"), str)}
    rows: list[dict[str, Any]] = []
    for result in results:
        before = old.get(result.name, {})
        figure_before = _finite(before.get("figure"))
        change = regression = None
        if figure_before is not None and result.figure is not None and result.direction:
            change = result.figure - figure_before
            regression = -change if result.direction == "higher" else change
        rows.append(
            {
                "check": result.name,
                "before": figure_before,
                "after": result.figure,
                "status_before": before.get("status"),
                "status_after": result.status,
                "change": change,
                "regression": regression,
            }
        )
    regressions = [row["regression"] for row in rows if row["regression"] is not None]
    worst = max(regressions) if regressions else None
    provenance = baseline.get("provenance")
    sha_before = provenance.get("sha256") if isinstance(provenance, dict) else None
    sha_now = next((r.details.get("sha256") for r in results if r.stage is Stage.FACTS), None)
    details = {
        "baseline_model_sha256": sha_before,
        "same_model": sha_before == sha_now,
        "baseline_tool_version": baseline.get("tool_version"),
        "changes": rows,
    }
    criteria = () if worst is None else (Criterion("worst regression", worst, "<=", max_regression),)
    failed = any(not c.passed for c in criteria)
    if failed:
        reason: str | None = f"worst regression {figure_text(worst)} is over {figure_text(max_regression)}"
    else:
        reason = None if worst is not None else "no figure comparable with the baseline"
    return CheckResult(
        name="baseline",
        title="Changes since the baseline",
        status=judged_status(criteria),
        figure=worst,
        figure_name="worst regression",
        threshold=max_regression,
        direction="lower",
        reason=reason,
        queries=0,
        generator_queries=0,
        seconds=time.perf_counter() - started,
        settings={"max_regression": max_regression},
        criteria=criteria,
        details=details,
        stage=Stage.COMPARE,
    )
