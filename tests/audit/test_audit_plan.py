"""The plan made before an audit runs: estimates per check, the time budget's reductions, classes = "auto"."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model as make_model
from onnx_factory import save
from workspace import FIXED_COST, assert_ran_with_cuts, build, reduced_checks

from auditor.audit import checks, planner, runner
from auditor.audit.checks.inputs import AUTO_CLASSES, CONFUSED_PAIRS, SAMPLED_CLASSES
from auditor.audit.config import load_config, override
from auditor.audit.plan import FILL, AuditPlan, Cost, Work, scale
from auditor.audit.planner import MIN_SHARE, SQUEEZE, fit_call_cost, plan_audit, water_level
from auditor.audit.results import CheckResult
from auditor.audit.runner import run_audit
from auditor.jsonable import jsonable
from auditor.model.calibration import Calibration, Trial
from auditor.report import markdown


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("ws"))


def test_the_plan_bounds_every_check_and_prints_one_line_each(workspace: Path) -> None:
    config = load_config(workspace)
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx)
    lines = plan.lines()
    listed = checks.listed_checks(config)  # every check but the opt-in ones the config does not name
    assert len(lines) == 1 + len(listed)
    assert [line.split()[1] for line in lines[1:]] == [c.name for c in listed]
    report = run_audit(config, ctx, plan=plan)
    for result in report.checks:
        planned = plan.check(result.name)
        assert planned is not None and planned.units == result.units == result.units_finished
        assert result.queries <= planned.queries, result.name  # searches stop early, rows can be cached
    # checks without searches: the estimate is exact
    assert plan.check("accuracy").queries == report.check("accuracy").queries == 60  # type: ignore[union-attr]
    stability = report.check("stability")
    assert plan.check("stability").queries == stability.queries == 40 * (1 + 2)  # type: ignore[union-attr]
    doc = report.to_dict()["plan"]
    assert [c["name"] for c in doc["checks"]] == [c.name for c in listed]
    assert doc["time_budget"] == 600 and doc["checks"][3]["class_names"] == ["0", "1", "2"]
    assert all(c["reduced"] == [] for c in doc["checks"])  # a small audit fits 600 s untouched


def test_a_time_budget_reduces_the_expensive_checks_the_same_way_every_time(workspace: Path) -> None:
    config = load_config(workspace)
    config = dataclasses.replace(config, run=override(config.run, time_budget=0.1))
    ctx = checks.Context.open(config)
    full = plan_audit(
        dataclasses.replace(config, run=override(config.run, time_budget=0.0)), ctx, cost=FIXED_COST
    )
    first = plan_audit(config, ctx, cost=FIXED_COST)
    second = plan_audit(config, ctx, cost=FIXED_COST)
    assert first.full_seconds > 0.1 and full.time_budget is None
    assert [c.reductions for c in first.checks] == [c.reductions for c in second.checks]
    assert [c.settings for c in first.checks] == [c.settings for c in second.checks]
    reduced = reduced_checks(first, full, "0.1 s")
    assert "counterfactuals" in reduced and "accuracy" not in reduced  # accuracy is never cut
    assert not any(c.out_of_time for c in first.checks)  # every check fits at some reduced size
    report = run_audit(config, ctx, plan=first)
    assert_ran_with_cuts(report, reduced)
    doc = report.to_dict()["plan"]["checks"]
    assert any(c["reduced"] for c in doc)


def test_a_spent_time_budget_leaves_later_checks_not_run_with_the_reason(workspace: Path) -> None:
    config = load_config(workspace)
    config = dataclasses.replace(config, run=override(config.run, time_budget=1e-9))
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx, cost=FIXED_COST)
    report = run_audit(config, ctx, plan=plan)
    assert report.check("provenance").status == "reported"  # facts are always recorded
    for result in report.checks[1:]:
        assert result.status == "not_run" and result.limit_reached
        assert "time budget of 1e-09 s" in (result.reason or "")
    # accuracy is never cut, so it is left to the runner; the checks that can shrink do not fit even at
    # their least settings and the plan leaves them out up front
    assert "is spent" in (report.check("accuracy").reason or "")
    left_out = [c for c in plan.checks if c.out_of_time]
    assert {c.name for c in left_out} >= {"stability", "counterfactuals", "attributions"}
    for entry in left_out:
        assert entry.seconds == 0 and "does not fit the time budget of 1e-09 s" in (entry.skipped or "")
        assert "does not fit" in (report.check(entry.name).reason or "")
    assert plan.estimated_seconds - plan.seconds == pytest.approx(plan.check("accuracy").seconds)  # type: ignore[union-attr]


def test_the_time_budget_shares_out_what_is_left() -> None:
    plan = AuditPlan(
        time_budget=100.0,
        cost=FIXED_COST,
        checks=tuple(
            checks_plan
            for checks_plan in (
                _planned("a", 10.0),
                _planned("b", 50.0),
                _planned("c", 20.0),
            )
        ),
    )
    assert plan.time_limit("a", 0.0) == pytest.approx(30.0)  # 100 - (50 + 20) for later checks
    assert plan.time_limit("b", 5.0) == pytest.approx(75.0)  # 95 left, 20 kept for c
    assert plan.time_limit("b", 90.0) == pytest.approx(10.0)  # its own estimate, but no more than is left
    assert plan.time_limit("c", 120.0) == 0.0


def _planned(name: str, seconds: float):  # type: ignore[no-untyped-def]
    from auditor.audit.plan import CheckPlan

    return CheckPlan(name, None, units=1, queries=1, seconds=seconds)


def test_water_level_cuts_the_most_expensive_first() -> None:
    assert water_level([1.0, 2.0, 10.0], 13.0) == pytest.approx(10.0)  # everything fits
    assert water_level([1.0, 2.0, 10.0], 7.0) == pytest.approx(4.0)  # 1 + 2 + 4
    assert water_level([1.0, 2.0, 10.0], 1.5) == pytest.approx(0.5)


def test_scale_cuts_dials_in_order_to_their_floors() -> None:
    @dataclasses.dataclass(frozen=True)
    class Knobs:
        per_class: int = 3
        budget: int = 1000
        classes: tuple[int, ...] = (5, 1, 9, 2)

    dials = (("per_class", 1), ("budget", 300), ("classes", 2))
    reduced, cuts = scale(Knobs(), dials, 0.1, "why")
    assert (reduced.per_class, reduced.budget, reduced.classes) == (1, 300, (5, 1, 9, 2))
    reduced, cuts = scale(Knobs(), dials, 0.01, "why")
    assert reduced.classes == (5, 1) and [c.setting for c in cuts] == ["per_class", "budget", "classes"]
    assert scale(Knobs(), dials, 0.97, "why") == (Knobs(), ())  # close enough: nothing cut


def test_call_cost_is_fitted_on_timed_batches() -> None:
    # 2 ms per call + 0.1 ms per row
    rates = {b: b / (2e-3 + b * 1e-4) for b in (1, 16, 256)}
    call, row = fit_call_cost(rates)
    assert call == pytest.approx(2e-3) and row == pytest.approx(1e-4)
    assert Cost(call, row, 0.0, {}, 1.0, 1, 1, "x").seconds(Work(1000, 10)) == pytest.approx(0.02 + 0.1)


# ---------------------------------------------------------------- classes = "auto" on a many-class model

K = 100


@pytest.fixture(scope="module")
def many_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100-class linear model over 4 features; labelled data with planted confusions."""
    root = tmp_path_factory.mktemp("many")
    w = np.random.default_rng(1).normal(0, 1, (4, K)).astype(np.float32)
    w[:, :5] *= 6  # a few classes win most rows, so the data holds few classes
    proto = make_model(
        [helper.make_node("MatMul", ["x", "W"], ["logits"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", K])],
        [numpy_helper.from_array(w, "W")],
    )
    save(proto, root / "model.onnx")
    x = np.random.default_rng(2).normal(0, 1, (300, 4)).astype(np.float32)
    y = (x @ w).argmax(axis=1)
    y[:6], y[6:9] = 97, 98  # planted: rows of other classes labelled 97 (6 rows) and 98 (3 rows)
    np.savez(root / "data.npz", X=x, y=y)
    (root / "audit.toml").write_text(
        '[model]\npath = "model.onnx"\n[data]\npath = "data.npz"\n[run]\ndevice = "cpu"\nthreads = 1\n'
        "budget = 40\n[checks.stability]\nenabled = false\n[checks.attributions]\nenabled = false\n"
        "[checks.counterfactuals]\nsamples = 1\nmatrix_budget = 10\nmin_validity = 0.5\n"
        "[checks.exemplars]\nmin_reached = 0.1\nper_class = 1\n",
        encoding="utf-8",
    )
    return root / "audit.toml"


def expected_classes(root: Path, seed: int) -> tuple[int, ...]:
    """The "auto" rule worked out here: confused pairs, classes in the data by rows, a seeded sample."""
    data = np.load(root / "data.npz")
    import onnxruntime as ort

    session = ort.InferenceSession(str(root / "model.onnx"), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"x": data["X"]})[0].argmax(axis=1)
    truth = data["y"]
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(truth, predicted):
        if t != p:
            pairs[(int(t), int(p))] = pairs.get((int(t), int(p)), 0) + 1
    ranked = sorted(pairs, key=lambda pair: (-pairs[pair], pair))[:CONFUSED_PAIRS]
    order = [c for pair in ranked for c in pair]
    rows = np.bincount(truth, minlength=K)
    order += [int(c) for c in sorted(np.flatnonzero(rows), key=lambda c: (-rows[c], c))]
    kept = list(dict.fromkeys(order))
    return tuple(kept)


def test_auto_covers_confused_pairs_then_present_classes_then_a_seeded_sample(many_classes: Path) -> None:
    assert K > AUTO_CLASSES
    config = load_config(many_classes)
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx)
    exemplars = plan.check("exemplars")
    assert exemplars is not None and exemplars.classes is not None
    kept = expected_classes(many_classes.parent, 0)
    assert exemplars.classes[: len(kept)] == kept
    assert kept[0] == 97  # the most confused pair: six rows labelled 97
    sampled = exemplars.classes[len(kept) :]
    assert len(sampled) == SAMPLED_CLASSES and not set(sampled) & set(kept)
    assert exemplars.class_names == tuple(str(k) for k in exemplars.classes)
    assert "auto" in (exemplars.classes_chosen or "")
    assert "classes (" in next(line for line in plan.lines() if " exemplars " in line)
    again = plan_audit(config, checks.Context.open(config)).check("exemplars")
    assert again is not None and again.classes == exemplars.classes  # the same seed, the same classes
    other = dataclasses.replace(config, run=override(config.run, seed=5))
    moved = plan_audit(other, checks.Context.open(other)).check("exemplars")
    assert moved is not None and moved.classes[: len(kept)] == kept and moved.classes != exemplars.classes
    report = run_audit(config, ctx, plan=plan)
    assert [row["class"] for row in report.check("exemplars").details["per_class"]] == list(exemplars.classes)
    matrix = report.check("counterfactuals").details["flip_matrix"]
    covered = plan.check("counterfactuals").classes  # type: ignore[union-attr]
    assert matrix["classes"] == list(covered) and len(matrix["attempts"]) == len(covered)


@pytest.mark.slow  # a timing: on a shared 2-core box the ratio swings with the neighbours' load
def test_the_plan_estimate_is_close_to_the_time_taken_on_digits(digits_dir: Path) -> None:
    """Checks that spend their whole work (no search stops on success): estimate within 3x of the time taken
    (the ratio is printed; `pytest -s` shows it)."""
    config = load_config(digits_dir / "audit.toml")
    counterfactuals = dataclasses.replace(config.checks.counterfactuals, samples=4, budget=300, matrix=False)
    attributions = dataclasses.replace(config.checks.attributions, samples=2)
    config = dataclasses.replace(
        config,
        run=override(config.run, device="cpu"),
        checks=dataclasses.replace(config.checks, counterfactuals=counterfactuals, attributions=attributions),
    )
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx)
    report = run_audit(config, ctx, plan=plan)
    whole = ("accuracy", "stability", "counterfactuals", "attributions")
    estimated = sum(plan.check(name).seconds for name in whole)  # type: ignore[union-attr]
    taken = sum(report.check(name).seconds for name in whole)
    print(f"digits: estimated {estimated:.2f} s, took {taken:.2f} s, ratio {estimated / taken:.2f}")
    assert 1 / 3 <= estimated / taken <= 3
    for name in whole:
        assert report.check(name).queries <= plan.check(name).queries  # type: ignore[union-attr]


def test_checks_slower_than_planned_have_the_later_ones_planned_again(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "REPLAN_AFTER_SECONDS", 0.0)  # the workspace's checks are short
    config = load_config(workspace)
    config = dataclasses.replace(config, run=override(config.run, time_budget=0.5))
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx, cost=FIXED_COST.scaled(1e-4))  # timings of a machine far faster than this
    assert not any(c.reductions for c in plan.checks)  # up front everything fits
    report = run_audit(config, ctx, plan=plan)
    assert report.plan is not None and report.plan.replans  # planned again, and says why
    assert "slower than planned, so the later checks were planned again" in report.plan.replans[0]
    assert report.plan.upfront_seconds == pytest.approx(plan.estimated_seconds)
    reduced = [c for c in report.plan.checks if c.reductions]
    assert reduced  # the later checks were cut to the time left, and ran with the cut settings
    for entry in reduced:
        for cut in entry.reductions:
            assert report.check(entry.name).settings[cut.setting] == jsonable(cut.after)
    assert "Up front the estimate was" in markdown.render(report)
    roomy = dataclasses.replace(config, run=override(config.run, time_budget=600.0))
    unhurried = run_audit(roomy, ctx, plan=plan_audit(roomy, ctx, cost=FIXED_COST.scaled(1e-4)))
    assert unhurried.plan is not None and not unhurried.plan.replans  # slower, but the rest still fits


def test_a_second_slowdown_has_the_checks_after_it_planned_again(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pace is judged on the checks run since the last re-plan, against the re-planned estimates: a
    machine that slows down twice (a neighbour arrives, then the re-check falls back to one thread) is
    followed twice; checks on the new estimates' pace are not; a fall back to one thread is followed at once."""
    monkeypatch.setattr(runner, "REPLAN_AFTER_SECONDS", 0.0)  # the workspace's checks are short
    config = load_config(workspace)
    config = dataclasses.replace(config, run=override(config.run, time_budget=600.0))
    ctx = checks.Context.open(config)
    listed = [c for c in checks.listed_checks(config) if c.stage is checks.Stage.MEASURE]
    monkeypatch.setattr(ctx.blackbox, "threads", 2)
    plan = plan_audit(config, ctx, cost=dataclasses.replace(FIXED_COST, threads=2))

    def ran(entry_plan: AuditPlan, check: checks.Check, pace: float) -> CheckResult:
        planned = entry_plan.check(check.name)
        assert planned is not None and planned.seconds > 0
        settings = planned.settings
        return dataclasses.replace(runner._not_run(check, settings), seconds=pace * planned.seconds)

    def left_for(later: list[checks.Check], entry_plan: AuditPlan, pace: float) -> float:
        """Elapsed seconds that leave the later checks 80 % of the time they need at this pace."""
        need = sum(entry_plan.check(c.name).seconds for c in later)  # type: ignore[union-attr]
        return 600.0 - 0.8 * pace * need

    first = [ran(plan, listed[0], 3.0)]
    once = runner._paced(plan, config, ctx, tuple(listed[1:]), first, left_for(listed[1:], plan, 3.0))
    assert len(once.replans) == 1 and once.cost.row == pytest.approx(3.0 * plan.cost.row)
    on_pace = [ran(once, listed[1], 1.0)]  # as the re-planned estimate said: no new plan
    elapsed = left_for(listed[2:], once, 1.0) + 1.0
    assert runner._paced(once, config, ctx, tuple(listed[2:]), on_pace, elapsed) is once
    slower = [ran(once, listed[1], 2.0)]  # the machine slowed down again
    twice = runner._paced(once, config, ctx, tuple(listed[2:]), slower, left_for(listed[2:], once, 2.0))
    assert len(twice.replans) == 2 and twice.cost.row == pytest.approx(6.0 * plan.cost.row)
    assert f"after {listed[1].name}: the checks ran 2.0x slower than planned, so" in twice.replans[1]
    assert "fell back" not in " ".join(twice.replans)
    # the re-check falls back to one thread, which ran at 1/2.5 of the plan's rate: known before any check
    # shows it, so the next checks are planned again at once, though the last one kept to the plan
    one_thread = Trial(4, 1, twice.cost.rows_per_second / 2.5)
    monkeypatch.setattr(
        ctx.blackbox, "calibration", Calibration(4, 1, False, 1.0, (), 0.0, fallback=one_thread)
    )
    monkeypatch.setattr(ctx.blackbox, "threads", 1)
    kept = [ran(twice, listed[2], 1.0)]
    thrice = runner._paced(twice, config, ctx, tuple(listed[3:]), kept, left_for(listed[3:], twice, 2.5))
    assert len(thrice.replans) == 3 and thrice.cost.threads == 1
    assert thrice.cost.row == pytest.approx(2.5 * twice.cost.row)
    assert (
        f"after {listed[2].name}: ONNX Runtime fell back from 2 to 1 thread(s), 2.5x slower than planned, so"
        in thrice.replans[2]
    )


@pytest.mark.parametrize("budget", [0.035, 0.05, 0.065, 0.075, 0.0775, 0.095])
def test_a_check_is_left_out_only_when_the_others_are_at_their_least(workspace: Path, budget: float) -> None:
    """Whole-number settings (classes, inputs) can leave a plan a little over after the water-level rounds;
    a later check is then left out only when no earlier one can give a step more."""
    config = load_config(workspace)
    config = dataclasses.replace(config, run=override(config.run, time_budget=budget))
    ctx = checks.Context.open(config)
    plan = plan_audit(config, ctx, cost=FIXED_COST)
    if not any(c.out_of_time for c in plan.checks):
        assert sum(c.seconds for c in plan.checks) <= budget * FILL + 1e-9
        return
    for check in checks.listed_checks(config):
        entry = plan.check(check.name)
        if check.reduce is None or entry is None or entry.out_of_time or entry.skipped:
            continue
        least, made = check.reduce(ctx, entry.settings, MIN_SHARE, "test")
        assert not made or planner._work(check, ctx, least).queries >= entry.queries, check.name


def test_step_down_takes_the_next_whole_step() -> None:
    """A check of 5 whole units at 20 s each, 8 s over: 5 units at 92 %, 4 at 73.6 %."""
    asked: list[float] = []

    def cut(check: object, share: float) -> float:
        asked.append(share)
        return 20.0 * min(5, int(np.ceil(5 * share - 1e-9)))

    assert planner._step_down(None, 100.0, 8.0, cut)  # type: ignore[arg-type]
    assert asked == pytest.approx([0.92, 0.92 * SQUEEZE])
    asked.clear()
    assert not planner._step_down(None, 20.0, 8.0, lambda check, share: 20.0)  # type: ignore[arg-type]
