"""The Ray executor: the same report as in process, bit for bit; killed workers replaced; units that never finish.

One local cluster for the session (`ray_cluster`: 2 CPUs) and one executor with its two actors for the
module (a killed actor is replaced in it). The row cache is on (the CPU default): every unit starts with
an empty one wherever it runs, so report.json matches in every key but timings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from small_samples import digits_config

from auditor.audit.checks import Context
from auditor.audit.config import AuditConfig, load_config
from auditor.audit.executors.ray import FAULT_ENV
from auditor.audit.executors.registry import Executor, open_executor
from auditor.audit.results import AuditReport, without_timings
from auditor.audit.runner import run_audit
from auditor.audit.verdict import exit_code
from auditor.errors import ArgumentError
from auditor.model.blackbox import OpenOptions
from auditor.report.writer import write_report

pytest.importorskip("ray")
pytestmark = pytest.mark.ray

CACHED = OpenOptions(cache=True)  # the CPU default: each unit starts with an empty row cache, here and on Ray


def document(report: AuditReport) -> str:
    return json.dumps(without_timings(report.to_dict()), sort_keys=True)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, digits_dir: Path) -> AuditConfig:
    return load_config(digits_config(tmp_path_factory.mktemp("ray")))


@pytest.fixture(scope="module")
def local(config: AuditConfig) -> str:
    report = run_audit(config, Context.open(config, CACHED, None))
    ran = [c.status for c in report.checks]
    assert ran == ["reported"] + ["passed"] * 5, ran  # every check really ran
    return document(report)


@pytest.fixture(scope="module")
def executor(ray_cluster: ModuleType) -> Iterator[Executor]:
    with open_executor("ray") as opened:
        assert opened.workers == 2  # one actor per CPU of the cluster
        yield opened


@pytest.fixture(scope="module")
def context(config: AuditConfig) -> Context:
    return Context.open(config, CACHED, None)


def test_ray_report_equals_local_bit_for_bit(
    executor: Executor, config: AuditConfig, context: Context, local: str
) -> None:
    assert document(run_audit(config, context, mapper=executor)) == local


def test_a_killed_worker_is_replaced_and_its_unit_retried(
    executor: Executor,
    config: AuditConfig,
    context: Context,
    local: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = tmp_path / "exited"
    monkeypatch.setenv(FAULT_ENV, f"attributions:1@{marker}")  # its worker exits on the unit's first try
    report = run_audit(config, context, mapper=executor)
    assert marker.exists()
    assert document(report) == local


def test_a_unit_whose_worker_always_dies_is_not_finished(
    executor: Executor,
    config: AuditConfig,
    context: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FAULT_ENV, "attributions:1")  # its worker exits on every try
    report = run_audit(config, context, mapper=executor)
    check = report.check("attributions")
    assert check.status == "partial" and check.limit_reached and not check.error  # unit 0 finished
    assert check.reason is not None
    assert check.reason.startswith("not finished: unit 1 of attributions failed 2 times, its worker died")
    assert [c.status for c in report.checks if c is not check] == ["reported"] + ["passed"] * 4
    assert exit_code(report, "failed") == 0 and exit_code(report, "any") == 1
    files = write_report(report, tmp_path / "out", ("json", "junit"))  # the audit still writes its report
    assert [f.name for f in files] == ["junit.xml", "report.json"]
    assert (
        '<skipped message="partial: not finished: unit 1 of attributions'
        in (tmp_path / "out" / "junit.xml").read_text()
    )


def test_a_text_classifier_on_ray_is_refused_in_one_line(executor: Executor) -> None:
    config = load_config(Path(__file__).parents[2] / "sample_models" / "text" / "audit.toml")
    context = Context.open(config, CACHED, None)
    with pytest.raises(
        ArgumentError, match=r"^the Ray executor does not run text classifiers yet; audit this"
    ):
        run_audit(config, context, mapper=executor)
