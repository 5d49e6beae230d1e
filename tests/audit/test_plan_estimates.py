"""The plan's estimates against the work the checks then do: text checks (reduced to a time budget, exemplars
planned at what their searches spend) and the one-vs-one check (its searches' space and inversions).

Queries are counted, so they are compared closely; seconds depend on the neighbours' load and are not.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from workspace import FIXED_COST, assert_ran_with_cuts, reduced_checks

from auditor.audit import checks
from auditor.audit.checks.exemplars import OVERSHOOT
from auditor.audit.checks.text import PROBE_ROWS, expected_search_queries
from auditor.audit.config import load_config, override
from auditor.audit.planner import plan_audit
from auditor.audit.runner import run_audit
from auditor.report import markdown

TEXT = Path(__file__).resolve().parents[2] / "sample_models" / "text"

# timings of a machine 1,000 times slower than this one, so that the text sample's checks (about a second
# here) must be cut to fit a budget that the real run still keeps with room to spare
SLOW_COST = dataclasses.replace(
    FIXED_COST, call=1e-2, row=1e-3, generator_row=1e-3, rows_per_second=1e3, batch_size=1024
)


def _text_config(time_budget: float = 0.0):  # type: ignore[no-untyped-def]
    pytest.importorskip("tokenizers")
    config = load_config(TEXT / "audit.toml")
    return dataclasses.replace(config, run=override(config.run, device="cpu", time_budget=time_budget))


def test_a_time_budget_reduces_the_text_checks_and_the_audit_still_finishes() -> None:
    config = _text_config(time_budget=10.0)
    ctx = checks.Context.open(config)
    full = plan_audit(_text_config(), ctx, cost=SLOW_COST)
    plan = plan_audit(config, ctx, cost=SLOW_COST)
    assert full.full_seconds > 20  # 15,215 counterfactual queries alone are 15 s at these timings
    assert sum(c.seconds for c in plan.checks) <= 10.0
    reduced = reduced_checks(plan, full, "10 s")
    assert {"counterfactuals", "attributions"} <= set(reduced) and "accuracy" not in reduced
    report = run_audit(config, ctx, plan=plan)
    assert_ran_with_cuts(report, reduced)
    for entry in reduced.values():
        result = report.check(entry.name)
        assert result.status == "passed" and result.units_finished == result.units, entry.name
    counterfactuals = reduced["counterfactuals"]
    assert report.check("counterfactuals").queries <= counterfactuals.queries
    doc = report.to_dict()["plan"]["checks"]
    assert next(c for c in doc if c["name"] == "counterfactuals")["reduced"]
    assert "Reduced to fit the time budget of 10 s" in markdown.render(report)


def test_text_searches_are_planned_at_the_queries_they_spend() -> None:
    """Exemplars stop at the first generation that reaches the class, word counterfactuals at the greedy
    step that flips the text: planned at their budgets (180,000 and 200,000 queries) they were 400 and 13
    times what they spend on the text sample."""
    config = _text_config()
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx)
    planned = plan.check("exemplars")
    assert planned is not None
    settings = planned.settings
    budgeted = 3 * settings.per_class * (config.run.budget + OVERSHOOT)  # every search spending its budget
    assert planned.queries < budgeted / 100
    assert plan.queries == PROBE_ROWS  # the probe of the decoder's prior: planning queries, made once
    assert plan_audit(config, ctx).queries == 0
    assert plan.cost.text_row > 0  # the tokenizer's time per text is planned too
    report = run_audit(config, ctx, plan=plan)
    spent = report.check("exemplars")
    assert spent.status == "passed"
    assert planned.queries / 2 <= spent.queries <= 2 * planned.queries
    assert planned.generator_queries / 2 <= spent.generator_queries <= 2 * planned.generator_queries
    counterfactuals = plan.check("counterfactuals")
    assert counterfactuals is not None and counterfactuals.queries < 10 * config.run.budget / 10
    spent = report.check("counterfactuals")
    assert spent.status == "passed"
    assert counterfactuals.queries / 2 <= spent.queries <= 2 * counterfactuals.queries


def testexpected_search_queries_of_a_search_stopped_at_its_first_success() -> None:
    assert expected_search_queries(1.0, 50, 20, 1000) == 50  # the first generation succeeds
    assert expected_search_queries(0.0, 50, 20, 1000) == 1000 + OVERSHOOT  # never reached: the whole budget
    spends = [expected_search_queries(p, 50, 20, 1000) for p in (0.001, 0.01, 0.1)]
    assert spends == sorted(spends, reverse=True) and all(50 < q < 1000 + OVERSHOOT for q in spends[:2])
    # one row in 100 reaches the class: (1 - 0.01)^50 of the searches miss the first generation, and
    # those take 1 / (1 - 0.99^20) further generations of 20
    assert spends[1] == pytest.approx(50 + 0.99**50 * 20 / (1 - 0.99**20))


def _one_vs_one_config(digits_dir: Path, tmp_path: Path, generator: str) -> Path:
    others = "".join(
        f"[checks.{name}]\nenabled = false\n"
        for name in ("stability", "exemplars", "counterfactuals", "attributions")
    )
    path = tmp_path / "audit.toml"
    path.write_text(
        f'[model]\npath = "{digits_dir / "classifier.onnx"}"\n{generator}'
        f'[data]\npath = "{digits_dir / "samples.npz"}"\n[run]\nseed = 0\ndevice = "cpu"\nbudget = 300\n'
        f"{others}[checks.one_vs_one]\nsamples = 3\n"
    )
    return path


def test_one_vs_one_plans_the_generators_inversions_without_an_encoder(
    digits_dir: Path, tmp_path: Path
) -> None:
    """Without an encoder, each row's latent start is searched through the generator first: up to 2,000
    generator rows a row, more than the search itself generates (300 a row here)."""
    generator = f'[generator]\npath = "{digits_dir / "generator.onnx"}"\n'
    config = load_config(_one_vs_one_config(digits_dir, tmp_path, generator))
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx)
    planned = plan.check("one_vs_one")
    result = run_audit(config, ctx, plan=plan).check("one_vs_one")
    assert planned is not None and result.generator_queries > 3 * 300  # the inversions are spent
    assert result.queries <= planned.queries and result.generator_queries <= planned.generator_queries


def test_one_vs_one_plans_the_search_space_of_the_counterfactuals_check(
    digits_dir: Path, tmp_path: Path
) -> None:
    """Without a generator an image's counterfactual searches 8 x 8 cells a channel, not every pixel."""
    config = load_config(_one_vs_one_config(digits_dir, tmp_path, ""))
    ctx = checks.Context.open(config)
    settings = checks.ONE_VS_ONE.settings(config)
    work = checks.ONE_VS_ONE.estimate(ctx, settings, checks.ONE_VS_ONE.plan(ctx, settings, 0))
    assert set(work.steps) == {(settings.method, 64)}
