"""The runner: one black-box session for all checks, per-check query totals, determinism, verdicts, baselines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from workspace import build

from auditor.audit import checks
from auditor.audit.baseline import compare_baseline, load_baseline
from auditor.audit.config import load_config, override
from auditor.audit.results import AuditReport, without_timings
from auditor.audit.runner import run_audit
from auditor.audit.verdict import exit_code, problem
from auditor.errors import ConfigError


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("ws"), wrong_labels=6)


def audit(
    config_path: Path, seed: int | None = None, baseline: Path | None = None
) -> tuple[AuditReport, checks.Context]:
    config = load_config(config_path)
    config = dataclasses.replace(
        config, run=override(config.run, seed=seed), baseline=override(config.baseline, path=baseline)
    )
    ctx = checks.Context.open(config)
    return run_audit(config, ctx), ctx


@pytest.fixture(scope="module")
def report(config_path: Path) -> AuditReport:
    return audit(config_path)[0]


def test_same_seed_model_and_config_give_the_same_report(config_path: Path, report: AuditReport) -> None:
    again, _ = audit(config_path)
    first, second = without_timings(report.to_dict()), without_timings(again.to_dict())
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert [c.status for c in report.checks] == ["reported"] + ["passed"] * 5  # every check really ran
    other, _ = audit(config_path, seed=1)
    assert without_timings(other.to_dict())["checks"] != first["checks"]  # the seed matters


def test_query_totals_are_per_check_deltas_of_one_session(config_path: Path) -> None:
    report, ctx = audit(config_path)
    assert report.queries == ctx.blackbox.queries == sum(c.queries for c in report.checks)
    assert report.check("accuracy").queries == 60
    assert report.generator_queries == ctx.generator.queries  # type: ignore[union-attr]
    # each check's ONNX Runtime seconds: its share of the session's, within its own wall time
    shares = [c.ort_seconds for c in report.checks]
    assert all(0 <= s <= c.seconds for s, c in zip(shares, report.checks, strict=True))
    assert report.check("accuracy").ort_seconds > 0 and sum(shares) <= report.ort_seconds


def test_report_json_has_the_stable_keys(report: AuditReport) -> None:
    doc = report.to_dict()
    assert {"schema_version", "tool_version", "verdict", "seed", "provenance", "checks"} <= set(doc)
    assert len(doc["provenance"]["sha256"]) == 64 and doc["provenance"]["config_sha256"]
    for check in doc["checks"]:
        assert {"name", "status", "figure", "threshold", "queries", "seconds"} <= set(check)
    accuracy = next(c for c in doc["checks"] if c["name"] == "accuracy")
    assert accuracy["figure"] == pytest.approx(0.9) and accuracy["threshold"] == 0.9
    json.dumps(doc, allow_nan=False)


def test_exit_codes_follow_the_policy(report: AuditReport) -> None:
    assert report.verdict == "pass" and exit_code(report, "failed") == 0
    failed = dataclasses.replace(report.checks[1], status="failed")
    failing = dataclasses.replace(
        report, checks=(report.checks[0], failed, *report.checks[2:]), verdict="fail"
    )
    assert exit_code(failing, "failed") == 1 and exit_code(failing, "never") == 0
    skipped = dataclasses.replace(report.checks[2], status="not_run", reason="no data")
    partial = dataclasses.replace(report, checks=(*report.checks[:2], skipped, *report.checks[3:]))
    assert exit_code(partial, "failed") == 0 and exit_code(partial, "any") == 1
    broken = dataclasses.replace(skipped, error=True, reason="could not run: bad rows")
    errored = dataclasses.replace(report, checks=(*report.checks[:2], broken, *report.checks[3:]))
    assert exit_code(errored, "failed") == 2 and "bad rows" in (problem(errored) or "")


def test_an_audit_where_no_check_could_run_is_bad_input(config_path: Path) -> None:
    config = load_config(config_path)
    bare = dataclasses.replace(config, data=None, generator=None)
    report = run_audit(bare, checks.Context.open(bare))
    assert report.check("provenance").status == "reported"
    assert exit_code(report, "failed") == 2 and (problem(report) or "").startswith("no check could run")
    assert exit_code(report, "never") == 0


def test_baseline_reports_changes_and_fails_on_regressions(report: AuditReport, tmp_path: Path) -> None:
    old = report.to_dict()
    for check in old["checks"]:
        if check["name"] == "accuracy":
            check["figure"] = 0.95  # the earlier model was better by 0.05
        if check["name"] == "stability":
            check["figure"] = 0.5  # and much less stable
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    result = compare_baseline(list(report.checks), load_baseline(path), max_regression=0.02)
    rows = {r["check"]: r for r in result.details["changes"]}
    assert rows["accuracy"]["regression"] == pytest.approx(0.05)
    assert rows["stability"]["regression"] < 0  # lower flip rate: an improvement
    assert result.status == "failed" and result.figure == pytest.approx(0.05)
    assert result.details["same_model"] is True
    assert compare_baseline(list(report.checks), load_baseline(path), max_regression=0.1).status == "passed"


def test_baseline_runs_inside_the_audit(config_path: Path, report: AuditReport, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report.to_dict()), encoding="utf-8")
    again, _ = audit(config_path, baseline=path)
    baseline = again.check("baseline")
    assert baseline.status == "passed" and baseline.figure == pytest.approx(0.0)


def test_a_baseline_that_is_not_a_report_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not an auditor report\.json"):
        load_baseline(tmp_path / "x.json")
    with pytest.raises(ConfigError, match="no such baseline"):
        load_baseline(tmp_path / "missing.json")


def test_a_baseline_with_odd_check_entries_is_compared_without_them(
    report: AuditReport, tmp_path: Path
) -> None:
    old = report.to_dict()
    old["checks"] = [{"name": ["accuracy"], "figure": 0.0}, 7, *old["checks"]]
    for check in old["checks"][2:]:
        if check["name"] == "accuracy":
            check["figure"] = float("nan")  # json.dumps writes NaN, which json.loads reads back
        if check["name"] == "stability":
            check["figure"] = True
    (tmp_path / "odd.json").write_text(json.dumps(old), encoding="utf-8")
    result = compare_baseline(list(report.checks), load_baseline(tmp_path / "odd.json"), max_regression=0.02)
    assert result.status == "passed" and result.figure == pytest.approx(0.0)
    rows = {r["check"]: r for r in result.details["changes"]}
    assert rows["accuracy"]["before"] is None and rows["accuracy"]["regression"] is None
    assert rows["stability"]["before"] is None


def test_a_check_that_fails_midway_still_counts_the_queries_it_made(config_path: Path) -> None:
    from auditor.audit.runner import run_check
    from auditor.errors import DataError

    config = load_config(config_path)
    ctx = checks.Context.open(config)

    def run(ctx: checks.Context, settings: Any, unit: checks.Unit) -> None:
        assert ctx.data is not None
        ctx.blackbox.predict(ctx.data.x[:5])
        raise DataError("bad rows")

    check = checks.Check(
        "broken",
        "Broken",
        settings=lambda config: None,
        unmet=lambda ctx, settings: None,
        plan=lambda ctx, settings, seed: [("rows", (0,))],
        run=run,
        merge=lambda ctx, settings, parts: checks.Outcome(None, "", "higher"),
    )
    result = run_check(check, ctx)
    assert result.error and result.status == "not_run" and "bad rows" in (result.reason or "")
    assert result.queries == 5
