"""Every search says why it stopped, and the reason agrees with its query count: "budget" means the budget
was spent, an earlier stop names its own reason (the target reached, no improvement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model as make_model
from onnx_factory import save
from workspace import build

from auditor.audit import checks
from auditor.audit.config import load_config
from auditor.audit.results import AuditReport
from auditor.audit.runner import run_audit

POPULATION = 64  # no search here asks more rows per generation


def assert_reason_matches(reason: str, queries: int, budget: int) -> None:
    if reason == "budget":
        assert budget <= queries < budget + POPULATION, (reason, queries, budget)
    elif reason in ("no_improvement", "target_reached"):
        assert queries < budget + POPULATION, (reason, queries, budget)
    else:
        assert reason == "all_nonfinite", reason


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AuditReport:
    config = load_config(build(tmp_path_factory.mktemp("ws")))
    return run_audit(config, checks.Context.open(config), checks=(checks.EXEMPLARS, checks.COUNTERFACTUALS))


def test_exemplar_searches_stop_for_the_reason_their_queries_show(report: AuditReport) -> None:
    result = report.check("exemplars")
    budget = result.settings["budget"]
    listed = result.details["exemplars"]
    assert listed and all(e["stop_reason"] for e in listed)
    for exemplar in listed:
        assert_reason_matches(exemplar["stop_reason"], exemplar["queries"], budget)
        if exemplar["stop_reason"] == "target_reached":
            assert exemplar["success"] and exemplar["confidence"] >= result.details["threshold"]


def test_counterfactual_searches_spend_their_budget(report: AuditReport) -> None:
    result = report.check("counterfactuals")
    budget = result.settings["budget"]
    for entry in result.details["counterfactuals"]:
        assert_reason_matches(entry["stop_reason"], entry["queries"], budget)
        if entry["stop_reason"] == "budget":
            assert entry["queries"] == budget  # counterfactual budgets are never exceeded


def test_an_input_space_search_that_finds_nothing_still_spends_its_budget(tmp_path: Path) -> None:
    """Class 1 can never win (class 0 leads by 10 whatever the pixels): before, the share kept for the polish
    was left unspent and the search said "budget" at 1,501 of 2,500 queries."""
    w = np.zeros((64, 2), np.float32)
    w[:, 1] = 0.01
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits"]),
    ]
    proto = make_model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array([10.0, 0.0], np.float32), "B")],
    )
    save(proto, tmp_path / "model.onnx")
    x = np.random.default_rng(0).uniform(0, 1, (12, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "data.npz", X=x, y=np.zeros(12, dtype=np.int64))
    (tmp_path / "audit.toml").write_text(
        '[model]\npath = "model.onnx"\n[data]\npath = "data.npz"\n[run]\ndevice = "cpu"\nthreads = 1\n'
        "time_budget = 0\n[checks.counterfactuals]\nsamples = 2\nbudget = 2500\nmatrix = false\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "audit.toml")
    result = run_audit(config, checks.Context.open(config), checks=(checks.COUNTERFACTUALS,)).check(
        "counterfactuals"
    )
    listed = result.details["counterfactuals"]
    assert len(listed) == 2 and result.details["space"] == "input"
    for entry in listed:
        assert not entry["valid"]
        assert (entry["stop_reason"], entry["queries"]) == ("budget", 2500)
    assert result.status == "failed"  # validity 0 < 0.8 by default
