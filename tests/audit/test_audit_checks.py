"""The checks: figures computed from the black box's real answers; missing prerequisites are 'not run', never passed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from workspace import build

from auditor.audit import checks
from auditor.audit.config import DataConfig, load_config
from auditor.audit.runner import run_check
from auditor.errors import DataError


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("ws"), wrong_labels=6)


@pytest.fixture()
def ctx(config_path: Path) -> checks.Context:
    return checks.Context.open(load_config(config_path))


def test_calibration_matches_a_hand_computed_ece() -> None:
    confidence = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, False, True, True])
    cal = checks.calibration(confidence, correct, bins=10)
    # bin [0.9, 1): accuracy 0.5 at confidence 0.95; bin [0.5, 0.6): accuracy 1 at 0.55; both hold half the rows
    assert cal["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    assert cal["counts"][9] == 2 and cal["counts"][5] == 2 and sum(cal["counts"]) == 4
    assert cal["accuracy"][9] == pytest.approx(0.5) and cal["accuracy"][0] is None


def test_accuracy_figures_come_from_the_model(ctx: checks.Context) -> None:
    result = run_check(checks.ACCURACY, ctx)
    assert ctx.data is not None and ctx.data.y is not None
    predicted = ctx.blackbox.predict_labels(ctx.data.x)
    assert result.figure == pytest.approx(54 / 60)  # labels were the model's own answers, 6 of them changed
    assert result.figure == pytest.approx(float((predicted == ctx.data.y).mean()))
    expected = np.zeros((3, 3), dtype=int)
    np.add.at(expected, (ctx.data.y, predicted), 1)
    assert result.details["confusion_matrix"] == expected.tolist()
    recall = [r["recall"] for r in result.details["per_class"]]
    support = expected.sum(axis=1)
    assert recall == [pytest.approx(expected[i, i] / support[i]) if support[i] else None for i in range(3)]
    assert result.status == "passed" and result.queries == 60  # min 0.9 is met exactly
    assert [f.name for f in result.figures] == ["accuracy-reliability"]
    assert result.figures[0].png.startswith(b"\x89PNG")


def test_accuracy_threshold_and_extra_criteria_fail_when_missed(config_path: Path) -> None:
    config = load_config(config_path)
    strict = dataclasses.replace(config.checks.accuracy, min=0.95, max_ece=0.0)
    ctx = checks.Context.open(
        dataclasses.replace(config, checks=dataclasses.replace(config.checks, accuracy=strict))
    )
    result = run_check(checks.ACCURACY, ctx)
    assert result.status == "failed"
    assert [c.name for c in result.criteria if not c.passed] == ["accuracy", "expected calibration error"]
    assert result.threshold == 0.95 and "accuracy 0.9 is not >= 0.95" in (result.reason or "")


def test_stability_flip_rate_grows_with_noise(config_path: Path) -> None:
    config = load_config(config_path)

    def flip_rate(noise: float) -> tuple[float, dict]:
        settings = dataclasses.replace(config.checks.stability, noise=noise)
        ctx = checks.Context.open(
            dataclasses.replace(config, checks=dataclasses.replace(config.checks, stability=settings))
        )
        result = run_check(checks.STABILITY, ctx)
        assert result.queries == 40 * (1 + 2)  # clean rows plus two noisy copies each
        return result.figure, result.details

    quiet, _ = flip_rate(1e-6)
    loud, loud_details = flip_rate(5.0)
    assert quiet == 0.0 and loud > 0.1
    assert sum(c["rows"] for c in loud_details["per_class"]) == 40
    weighted = sum(c["flip_rate"] * c["rows"] for c in loud_details["per_class"] if c["rows"]) / 40
    assert weighted == pytest.approx(loud)


def test_missing_prerequisites_are_not_run_with_a_reason(config_path: Path) -> None:
    config = load_config(config_path)
    bare = dataclasses.replace(config, data=None, generator=None)
    ctx = checks.Context.open(bare)
    for check in (
        checks.ACCURACY,
        checks.STABILITY,
        checks.EXEMPLARS,
        checks.COUNTERFACTUALS,
        checks.ATTRIBUTIONS,
    ):
        result = run_check(check, ctx)
        assert result.status == "not_run" and result.figure is None and result.queries == 0, check.name
        assert result.reason
    assert "no data" in run_check(checks.ACCURACY, ctx).reason  # type: ignore[operator]
    assert "generator" in run_check(checks.EXEMPLARS, ctx).reason  # type: ignore[operator]


def test_data_without_labels_skips_only_accuracy(tmp_path: Path, config_path: Path) -> None:
    data = np.load(config_path.parent / "data.npz")
    np.savez(tmp_path / "unlabelled.npz", X=data["X"])
    config = load_config(config_path)
    ctx = checks.Context.open(
        dataclasses.replace(config, data=dataclasses.replace(config.data, path=tmp_path / "unlabelled.npz"))
    )
    assert "no labels" in (run_check(checks.ACCURACY, ctx).reason or "")
    assert run_check(checks.STABILITY, ctx).status == "passed"


def test_a_missing_explanation_module_is_reported_not_faked(
    ctx: checks.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("auditor.audit.checks.core.module_available", lambda name: False)
    for check in (checks.EXEMPLARS, checks.COUNTERFACTUALS, checks.ATTRIBUTIONS):
        result = run_check(check, ctx)
        assert result.status == "not_run" and result.figure is None
        assert "not part of this build" in (result.reason or "")


def test_a_user_facing_error_inside_a_check_is_an_error_not_a_pass(ctx: checks.Context) -> None:
    def broken(ctx: checks.Context, settings: object, unit: checks.Unit) -> object:
        raise DataError("rows do not fit")

    check = dataclasses.replace(checks.STABILITY, run=broken)
    result = run_check(check, ctx)
    assert result.status == "not_run" and result.error and "rows do not fit" in (result.reason or "")


def test_disabled_checks_say_so(config_path: Path) -> None:
    config = load_config(config_path)
    off = dataclasses.replace(config.checks.stability, enabled=False)
    ctx = checks.Context.open(
        dataclasses.replace(config, checks=dataclasses.replace(config.checks, stability=off))
    )
    result = run_check(checks.STABILITY, ctx)
    assert result.status == "not_run" and not result.enabled and "enabled = false" in (result.reason or "")


def test_labels_outside_the_model_classes_are_bad_input(tmp_path: Path, config_path: Path) -> None:
    data = np.load(config_path.parent / "data.npz")
    np.savez(tmp_path / "bad.npz", X=data["X"], y=np.full(len(data["X"]), 7))
    config = load_config(config_path)
    with pytest.raises(DataError, match="labels run from 7 to 7 but the model has 3 classes"):
        checks.Context.open(dataclasses.replace(config, data=DataConfig(tmp_path / "bad.npz")))


def test_rows_are_spread_over_the_classes(ctx: checks.Context) -> None:
    assert ctx.data is not None and ctx.data.y is not None
    present = sorted(set(ctx.data.y.tolist()))
    rows = checks.pick_rows(ctx, len(present), seed=0, tag="t")
    assert sorted(ctx.data.y[rows].tolist()) == present  # one row of each class before any repeats
    assert rows == checks.pick_rows(ctx, 3, seed=0, tag="t") and rows != checks.pick_rows(
        ctx, 3, seed=1, tag="t"
    )


def test_unit_seeds_depend_on_seed_check_and_position_only() -> None:
    seeds = {checks.unit_seed(s, name, i) for s in (0, 1) for name in ("a", "b") for i in (0, 1)}
    assert len(seeds) == 8
    assert checks.unit_seed(3, "stability", 2) == checks.unit_seed(3, "stability", 2)


def test_exemplars_check_calls_the_search_and_reports_every_class(ctx: checks.Context) -> None:
    result = run_check(checks.EXEMPLARS, ctx)
    rows = result.details["per_class"]
    assert [r["class"] for r in rows] == [0, 1, 2]
    assert result.queries > 0 and result.generator_queries == result.queries
    reached = [r["name"] for r in rows if r["found"]]
    assert result.figure == pytest.approx(len(reached) / 3)
    assert result.details["unreached"] == [r["name"] for r in rows if not r["found"]]
    assert len(result.figures) == 3  # one exemplar grid per class (image model)
