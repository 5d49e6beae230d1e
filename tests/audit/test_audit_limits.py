"""Limits an audit runs under: the total query budget and each check's time limit stop a check as 'not finished'
(not an input error) while the audit goes on; every limit is listed in the report; settings that only the model
shows to be wrong are refused before any check runs, naming the file, the line and the key."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from workspace import build

from auditor.audit import checks
from auditor.audit.config import load_config, override
from auditor.audit.runner import run_audit
from auditor.audit.verdict import exit_code, problem
from auditor.cli import main
from auditor.errors import ConfigError
from auditor.model.blackbox import OpenOptions
from auditor.model.budget import Budget
from auditor.model.loading import Limits
from auditor.model.sandbox import SandboxLimits
from auditor.report.html import render
from auditor.report.interface import WriteOptions


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("ws"))


def test_a_check_past_its_time_limit_is_not_finished_and_the_rest_goes_on(config_path: Path) -> None:
    config = load_config(config_path)
    stalled = dataclasses.replace(
        config.checks.stability, timeout=1e-9
    )  # any first batch is past the deadline
    config = dataclasses.replace(config, checks=dataclasses.replace(config.checks, stability=stalled))
    context = checks.Context.open(config)
    report = run_audit(config, context)
    stability = report.check("stability")
    assert stability.status == "not_run" and stability.limit_reached and not stability.error
    assert (stability.reason or "").startswith("not finished: the check ran past its time limit of 1e-09 s")
    # the others ran in full (provenance records facts: reported)
    assert [c.status for c in report.checks if c.name != "stability"] == ["reported"] + ["passed"] * 4
    assert problem(report) is None and exit_code(report, "failed") == 0 and exit_code(report, "any") == 1
    assert context.blackbox.runner.budget is None  # the audit's limits are taken off the shared runner again
    doc = report.to_dict()
    assert next(c for c in doc["checks"] if c["name"] == "stability")["limit_reached"] is True
    assert doc["provenance"]["limits"]["check_timeout_s"]["stability"] == 1e-9
    assert doc["provenance"]["limits"]["check_timeout_s"]["accuracy"] == 600.0


def test_the_audit_query_budget_is_never_exceeded(config_path: Path) -> None:
    config = load_config(config_path)
    config = dataclasses.replace(config, run=override(config.run, max_queries=100))
    context = checks.Context.open(config)
    report = run_audit(config, context)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["accuracy"] == "passed"  # 60 rows fit; stability's 40 rows x 3 do not
    later = [
        c for c in report.checks if c.name in ("stability", "exemplars", "counterfactuals", "attributions")
    ]
    assert all(c.status == "not_run" and c.limit_reached for c in later)
    assert all("the audit's budget of 100 queries is spent" in (c.reason or "") for c in later)
    assert report.queries == context.blackbox.queries <= 100
    assert report.to_dict()["provenance"]["limits"]["max_queries"] == 100
    assert exit_code(report, "failed") == 0  # a spent budget is not bad input


def test_every_limit_is_listed_in_the_report(config_path: Path) -> None:
    config = load_config(config_path)
    config = dataclasses.replace(config, run=override(config.run, check_timeout=30.0))
    limits = Limits(max_file_bytes=2**30, max_initializer_bytes=2**29, max_row_bytes=2**21)
    context = checks.Context.open(
        config,
        OpenOptions(limits=limits, call_timeout=7.0),
        sandbox=SandboxLimits(memory_bytes=3 * 2**30, timeout=45.0),
    )
    report = run_audit(config, context, checks=(checks.PROVENANCE,))
    assert report.to_dict()["provenance"]["limits"] == {
        "max_model_bytes": 2**30,
        "max_initializer_bytes": 2**29,
        "max_row_bytes": 2**21,
        "max_queries": 10_000_000,
        "time_budget_s": 600.0,
        "check_timeout_s": {
            name: 30.0
            for name in (
                "provenance",
                "accuracy",
                "stability",
                "exemplars",
                "counterfactuals",
                "attributions",
            )
        },
        "call_timeout_s": 7.0,
        "sandbox": {"memory_bytes": 3 * 2**30, "timeout_s": 45.0},
    }
    page = render(report, WriteOptions())
    assert (
        "<h3>Limits</h3>" in page
        and "3,221,225,472 bytes of memory, 45 s" in page
        and "accuracy 30 s" in page
    )


def test_budget_messages_name_the_setting_to_raise() -> None:
    budget = Budget(queries=5)
    budget.charge(5)
    with pytest.raises(
        Exception, match=r"budget of 5 queries is spent \(5 sent; raise \[run\] max_queries\)"
    ):
        budget.charge(1)


def run_main(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err), pytest.raises(SystemExit) as stop:
        main(list(args))
    return int(stop.value.code or 0), err.getvalue()


def test_cli_check_timeout_reports_not_finished_without_failing(config_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, err = run_main(
        "audit", "--config", str(config_path), "--out", str(out), "--trust-model", "--check-timeout", "1e-9"
    )
    assert code == 0, err
    assert "not finished: the check ran past its time limit" in err and "Traceback" not in err
    assert (out / "report.json").is_file()


def _with(config_path: Path, tmp_path: Path, table: str, line: str) -> Path:
    """A copy of the workspace config with `line` added under [table] (the copy sits beside the model files)."""
    text = config_path.read_text(encoding="utf-8").replace(f"[{table}]\n", f"[{table}]\n{line}\n", 1)
    path = config_path.parent / f"{tmp_path.name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        (
            "checks.attributions",
            "window = 50",
            "'checks.attributions.window' is 50, larger than the model's input map 8 x 8",
        ),
        (
            "checks.attributions",
            "stride = 9",
            "'checks.attributions.stride' is 9, larger than the model's input map 8 x 8",
        ),
        (
            "checks.exemplars",
            "classes = [0, 3]",
            "'checks.exemplars.classes' holds class 3, but the model has 3 classes",
        ),
        (
            "checks.counterfactuals",
            "target = 5",
            "'checks.counterfactuals.target' is class 5, but the model has 3 classes",
        ),
    ],
)
def test_settings_the_model_rules_out_are_refused_before_any_check(
    config_path: Path, tmp_path: Path, table: str, line: str, message: str
) -> None:
    path = _with(config_path, tmp_path, table, line)
    number = path.read_text(encoding="utf-8").splitlines().index(line) + 1
    try:
        with pytest.raises(ConfigError) as info:
            checks.Context.open(load_config(path))
    finally:
        path.unlink()
    assert str(info.value).startswith(f"{path}:{number}: {message}")
