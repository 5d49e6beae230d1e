"""The opt-in one-vs-one check on a linear three-class model, where everything is known by hand.

With logits z = x W + b, the score log p_A − log p_B = z_A − z_B is linear: moving feature i from the row to
its counterfactual lowers it by c_i = (W_iA − W_iB)(x_i − x'_i), exactly. So the deletion curve of any order
is s(x) minus the running sum of the c_i in that order, and the one-vs-one map of window 1 is c itself:
its order (largest c first) gives the lowest curve at every step, below the compared map's and random
orders'. Every figure below is recomputed from W, b, the rows and their counterfactuals with numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_factory import linear, save

from auditor.audit import checks
from auditor.audit.checks import onevsone
from auditor.audit.config import load_config
from auditor.audit.runner import run_check
from auditor.cli import main

FEATURES = 6
OTHERS_OFF = "".join(
    f"[checks.{name}]\nenabled = false\n\n"
    for name in ("accuracy", "stability", "exemplars", "counterfactuals", "attributions")
)


def linear_workspace(root: Path, table: str) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """A linear three-class model over six features, 60 labelled rows and an audit.toml with `table`."""
    rng = np.random.default_rng(7)
    w, b = rng.normal(size=(FEATURES, 3)), rng.normal(size=3) * 0.1
    x = rng.normal(size=(60, FEATURES)).astype(np.float32)
    root.mkdir(parents=True, exist_ok=True)
    save(linear(w, b), root / "model.onnx")
    np.savez(root / "data.npz", X=x, y=(x @ w + b).argmax(axis=1))
    config = root / "audit.toml"
    config.write_text(
        '[model]\npath = "model.onnx"\n\n[data]\npath = "data.npz"\n\n'
        '[run]\nseed = 5\ndevice = "cpu"\nthreads = 1\nbudget = 400\ntime_budget = 0\nformats = ["json"]\n\n'
        f"{OTHERS_OFF}[checks.one_vs_one]\n{table}\n",
        encoding="utf-8",
    )
    return config, w, b, x


def curve_share(contributions: np.ndarray, order: np.ndarray) -> float:
    """The deletion area, one feature a step, as a share of the gap: by hand (trapezoids over k / F)."""
    gap = contributions.sum()
    curve = gap - np.concatenate([[0.0], np.cumsum(contributions[order])])  # minus s(x'), so it ends at 0
    fractions = np.arange(len(curve)) / (len(curve) - 1)
    area = float(((curve[1:] + curve[:-1]) / 2 * np.diff(fractions)).sum())
    return area / gap


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory: pytest.TempPathFactory):
    table = f'samples = 6\nwindow = 1\nstride = 1\nsteps = {FEATURES}\norders = 3\nbaseline = "zero"'
    config, w, b, x = linear_workspace(tmp_path_factory.mktemp("linear"), table)
    ctx = checks.Context.open(load_config(config))
    settings = onevsone.settings_of(ctx.config)
    units = [
        checks.Unit("one_vs_one", i, part, items, checks.unit_seed(5, "one_vs_one", i))
        for i, (part, items) in enumerate(onevsone.plan(ctx, settings, 5))
    ]
    parts = [onevsone.run(ctx, settings, unit) for unit in units]
    return ctx, settings, parts, onevsone.merge(ctx, settings, parts), w, b, x


def test_figures_are_the_hand_computed_deletion_shares(linear_run) -> None:
    _, _, parts, outcome, w, b, x = linear_run
    entries = {entry.row: entry for part in parts for entry in part.entries}
    listed = outcome.details["maps"]
    judged = [m for m in listed if m["valid_counterfactual"]]
    assert len(listed) == 6 and len(judged) >= 4
    ours, theirs = [], []
    for m in judged:
        entry = entries[m["index"]]
        row, counterfactual = x[m["index"]].astype(np.float64), entry.counterfactual.astype(np.float32)
        z = row @ w + b
        source, contrast = int(np.argmax(z)), int(np.argsort(-z)[1])  # predicted class and runner-up
        assert (m["source"], m["contrast"]) == (source, contrast)
        direction = w[:, source] - w[:, contrast]
        moved = direction * (row - counterfactual)  # c_i: the score's drop when feature i moves
        assert m["gap"] == pytest.approx(moved.sum(), rel=1e-4, abs=1e-4)
        np.testing.assert_allclose(entry.one_vs_one.map, moved, rtol=1e-3, atol=1e-4)  # window 1: exact
        compared = direction * row  # occlusion to zero: the compared map's values
        np.testing.assert_allclose(entry.compared.map, compared, rtol=1e-3, atol=1e-4)
        mine = curve_share(moved, np.argsort(-moved, kind="stable"))
        other = curve_share(moved, np.argsort(-compared, kind="stable"))
        assert m["deletion_auc"] == pytest.approx(mine, abs=1e-4)
        assert m["compared_deletion_auc"] == pytest.approx(other, abs=1e-4)
        # the one-vs-one order is the best order of all: never above the compared map or the random orders
        assert mine <= other + 1e-9 and m["deletion_auc"] <= m["random_deletion_auc"] + 1e-4
        assert m["better"] == (m["deletion_auc"] < m["compared_deletion_auc"])
        ours.append(mine)
        theirs.append(other)
    assert outcome.figure == pytest.approx(float(np.median(ours)), abs=1e-4)
    assert outcome.details["median_compared_deletion_auc"] == pytest.approx(
        float(np.median(theirs)), abs=1e-4
    )
    assert outcome.details["better_share"] == pytest.approx(np.mean([m["better"] for m in judged]))
    assert outcome.details["compared_baseline"] == "zero" and outcome.direction == "lower"


def test_the_check_spends_the_queries_it_counts(linear_run, tmp_path: Path) -> None:
    ctx, _, _, outcome, _, _, _ = linear_run
    result = run_check(checks.ONE_VS_ONE, ctx)
    assert result.status == "reported" and result.figure == pytest.approx(outcome.figure)
    counted = sum(m.get("queries", 0) for m in result.details["maps"])
    assert 0 < counted < result.queries  # the maps' rows plus the counterfactual searches


def test_thresholds_judge_the_figures_through_the_cli(linear_run, tmp_path: Path) -> None:
    _, _, _, outcome, _, _, _ = linear_run
    measured, share = outcome.figure, outcome.details["better_share"]
    assert measured is not None and 0 < measured < 0.5 and 0 < share < 0.9
    base = 'samples = 6\nwindow = 1\nstride = 1\nsteps = 6\norders = 3\nbaseline = "zero"\n'
    codes = {}
    for name, deletion, better in (
        ("pass", measured * 1.5, share - 0.05),
        ("deletion-broken", measured * 0.5, share - 0.05),
        ("share-broken", measured * 1.5, share + 0.1),
    ):
        rule = f"max_deletion_auc = {deletion:.6f}\nmin_better_share = {better:.6f}"
        config, _, _, _ = linear_workspace(tmp_path / name, base + rule)
        out = tmp_path / f"out-{name}"
        with pytest.raises(SystemExit) as info:
            main(["audit", "--config", str(config), "--out", str(out), "--quiet", "--trust-model"])
        codes[name] = info.value.code
    assert codes == {"pass": 0, "deletion-broken": 1, "share-broken": 1}


def test_the_check_is_off_and_unlisted_without_its_table() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "sample_models" / "digits" / "audit.toml")
    assert config.checks.one_vs_one is None and not checks.ONE_VS_ONE.listed(config)
    assert "one_vs_one" not in config.to_dict()["checks"]


def test_a_time_budget_cuts_the_search_budget_then_the_rows(linear_run) -> None:
    ctx, settings, _, _, _, _, _ = linear_run
    reduced, made = onevsone.reduce(ctx, settings, 0.25, "time budget")
    # [run] budget 400 -> 300 (its floor) leaves 0.25 * 400 / 300 = 1/3 to cut: 6 rows -> 2
    assert (reduced.budget, reduced.samples) == (300, 2)
    assert [(r.setting, r.before, r.after) for r in made] == [("budget", 400, 300), ("samples", 6, 2)]
    before = onevsone.estimate(ctx, settings, onevsone.plan(ctx, settings, 5))
    after = onevsone.estimate(ctx, reduced, onevsone.plan(ctx, reduced, 5))
    assert after.queries < before.queries / 3
