"""Each check's verdict rule, held with figures computed here by hand and NON-ZERO thresholds.

- ECE is the bin-count-weighted mean gap (bins of unequal counts, worked out by hand);
- a map is faithful only when it beats the random orders on deletion AND on insertion;
- a class is reached only by an exemplar at or above the confidence;
- a counterfactual is valid only when the model gives the target class;
- a one-vs-one map's deletion area is a share of its own gap, and "better" is strictly below the compared map.

The three-class model used for the last two: logits l0 = 10·x0, l1 = 10·x1, l2 = (l0 + l1)/2 − 1 on
x in [0, 1]², so p2 <= e^-1/2 / (1 + e^-1/2) < 0.16 everywhere (class 2 is never on top, by AM-GM), while
classes 0 and 1 reach p > 0.99 at the corners. A row's runner-up is class 2 when |x0 − x1| > 0.2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model as make_model
from onnx_factory import save
from workspace import build

from auditor.audit import checks
from auditor.audit.checks.attributions import Maps
from auditor.audit.checks.attributions import merge as merge_attributions
from auditor.audit.checks.onevsone import Contrast, Contrasts
from auditor.audit.checks.onevsone import merge as merge_one_vs_one
from auditor.audit.config import load_config
from auditor.audit.results import AuditReport
from auditor.audit.runner import run_audit
from auditor.explain.attribution import Attribution, Faithfulness

# rows explained by the counterfactual check: four whose runner-up is class 2 (unreachable, so no valid
# counterfactual exists), four whose runner-up is the other of classes 0 and 1 (reachable)
UNREACHABLE_RUNNER_UP = [(1.0, 0.0), (0.0, 1.0), (0.9, 0.2), (0.15, 0.8)]
REACHABLE_RUNNER_UP = [(0.6, 0.5), (0.5, 0.6), (0.3, 0.4), (0.45, 0.35)]

THREE_CLASS_CONFIG = """\
[model]
path = "model.onnx"
class_names = ["zero", "one", "two"]

[data]
path = "data.npz"

[run]
seed = 0
device = "cpu"
threads = 1
budget = 400
time_budget = 0

[checks.accuracy]
enabled = false

[checks.stability]
enabled = false

[checks.exemplars]
per_class = 2
min_confidence = 0.9
min_reached = 0.9

[checks.counterfactuals]
samples = 8
matrix = false
min_validity = 0.75

[checks.attributions]
enabled = false
"""


def three_class_model(path: Path) -> Path:
    weights = np.array([[10.0, 0.0, 5.0], [0.0, 10.0, 5.0]], np.float32)
    bias = np.array([0.0, 0.0, -1.0], np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits"]),
    ]
    proto = make_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    return save(proto, path)


def logits(x: np.ndarray) -> np.ndarray:
    """The model's logits, computed here without ONNX Runtime."""
    l0, l1 = 10 * x[:, 0], 10 * x[:, 1]
    return np.stack([l0, l1, (l0 + l1) / 2 - 1], axis=1)


@pytest.fixture(scope="module")
def three_class(tmp_path_factory: pytest.TempPathFactory) -> AuditReport:
    root = tmp_path_factory.mktemp("three")
    three_class_model(root / "model.onnx")
    x = np.array(UNREACHABLE_RUNNER_UP + REACHABLE_RUNNER_UP, np.float32)
    np.savez(root / "data.npz", X=x, y=logits(x).argmax(axis=1))
    (root / "audit.toml").write_text(THREE_CLASS_CONFIG, encoding="utf-8")
    config = load_config(root / "audit.toml")
    return run_audit(config, checks.Context.open(config))


def test_the_model_computes_what_the_rules_are_derived_from(tmp_path: Path) -> None:
    path = three_class_model(tmp_path / "m.onnx")
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 41)), -1).reshape(-1, 2)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": grid.astype(np.float32)}
    )[0]
    np.testing.assert_allclose(got, logits(grid), atol=1e-4)
    p = np.exp(got - got.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert p[:, 2].max() < 0.16 and p[:, 0].max() > 0.99 and p[:, 1].max() > 0.99
    runner_up = np.argsort(-logits(np.array(UNREACHABLE_RUNNER_UP + REACHABLE_RUNNER_UP)), axis=1)[:, 1]
    assert list(runner_up[:4]) == [2, 2, 2, 2] and 2 not in runner_up[4:]


# ---------------------------------------------------------------- ECE: bin-count-weighted


def test_ece_weights_each_bin_by_its_count() -> None:
    # bin [0.9, 1.0): 4 rows at 0.95, 3 correct -> accuracy 0.75, gap 0.20
    # bin [0.5, 0.6): 1 row at 0.55, correct    -> accuracy 1.00, gap 0.45
    # weighted: (4 * 0.20 + 1 * 0.45) / 5 = 0.25; the unweighted mean of the gaps would be 0.325
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.55])
    correct = np.array([True, True, True, False, True])
    table = checks.calibration(confidence, correct, 10)
    assert table["counts"][9] == 4 and table["counts"][5] == 1 and sum(table["counts"]) == 5
    assert table["ece"] == pytest.approx(0.25)


def probability_model(path: Path) -> Path:
    """(N, 2) probabilities in, the same probabilities out (softmax of their logarithm)."""
    nodes = [
        helper.make_node("Log", ["p"], ["logp"]),
        helper.make_node("Softmax", ["logp"], ["probs"], axis=1),
    ]
    proto = make_model(
        nodes,
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 2])],
        [],
    )
    return save(proto, path)


def test_accuracy_check_judges_the_weighted_ece_against_its_threshold(tmp_path: Path) -> None:
    """The same five rows through a real model: ECE 0.25 passes max_ece = 0.3 (the unweighted 0.325 would not)."""
    probability_model(tmp_path / "model.onnx")
    p = np.array([[0.95, 0.05]] * 4 + [[0.45, 0.55]], np.float32)
    y = np.array([0, 0, 0, 1, 1])  # rows 0-2 correct, row 3 wrong, row 4 (class 1 at 0.55) correct
    np.savez(tmp_path / "data.npz", X=p, y=y)
    (tmp_path / "audit.toml").write_text(
        '[model]\npath = "model.onnx"\nscores = "probabilities"\n[data]\npath = "data.npz"\n'
        '[run]\ndevice = "cpu"\nthreads = 1\ntime_budget = 0\n'
        "[checks.accuracy]\nmax_ece = 0.3\nbins = 10\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "audit.toml")
    ctx = checks.Context.open(config)
    result = run_audit(config, ctx, checks=(checks.ACCURACY,)).check("accuracy")
    assert result.details["calibration"]["ece"] == pytest.approx(0.25, abs=1e-6)
    assert result.status == "passed"
    (criterion,) = result.criteria
    assert criterion.name == "expected calibration error" and criterion.threshold == 0.3


# ---------------------------------------------------------------- faithfulness: deletion AND insertion


def _maps(ctx: checks.Context, aucs: list[tuple[float, float, float, float]]) -> list[Maps]:
    """One input per (deletion, random deletion, insertion, random insertion) AUC quadruple."""
    x = np.asarray(ctx.data.x[0])  # type: ignore[union-attr]
    fractions = np.linspace(0.0, 1.0, 5)
    parts = []
    for row, (deletion, random_deletion, insertion, random_insertion) in enumerate(aucs):
        attribution = Attribution(
            map=np.ones(x.shape[1:]), method="occlusion", target=0, score="probability", settings={},
            queries=0, calls=0, seconds=0.0, score_input=1.0,
        )  # fmt: skip
        curve = np.linspace(1.0, 0.0, 5)
        faith = Faithfulness(
            target=0, fractions=fractions, deletion=curve, insertion=curve[::-1], random_deletion=curve,
            random_insertion=curve[::-1], deletion_auc=deletion, insertion_auc=insertion,
            random_deletion_auc=random_deletion, random_insertion_auc=random_insertion, orders=2,
            queries=0, calls=0, seconds=0.0,
        )  # fmt: skip
        parts.append(Maps(row, x, [(attribution, faith)], True))
    return parts


def test_a_faithful_map_beats_random_orders_on_deletion_and_on_insertion(tmp_path: Path) -> None:
    config = load_config(build(tmp_path))
    ctx = checks.Context.open(config)
    aucs = [
        (0.2, 0.5, 0.8, 0.5),  # lower deletion, higher insertion: faithful
        (0.6, 0.5, 0.8, 0.5),  # deletion worse than random: not faithful
        (0.2, 0.5, 0.4, 0.5),  # insertion worse than random: not faithful
        (0.6, 0.5, 0.4, 0.5),  # both worse: not faithful
    ]
    settings = dataclasses.replace(config.checks.attributions, min_faithful=0.5)
    outcome = merge_attributions(ctx, settings, _maps(ctx, aucs))
    assert [m["faithful"] for m in outcome.details["maps"]] == [True, False, False, False]
    assert outcome.figure == pytest.approx(0.25)
    (criterion,) = outcome.criteria
    assert not criterion.passed and criterion.threshold == 0.5


def test_attribution_check_share_matches_the_maps_curves(tmp_path: Path) -> None:
    """Real maps on a real model: the share is recomputed here from each map's four AUCs."""
    config = load_config(build(tmp_path))
    settings = dataclasses.replace(config.checks.attributions, samples=3, min_faithful=0.5)
    config = dataclasses.replace(config, checks=dataclasses.replace(config.checks, attributions=settings))
    result = run_audit(config, checks.Context.open(config), checks=(checks.ATTRIBUTIONS,)).check(
        "attributions"
    )
    maps = result.details["maps"]
    by_hand = [
        m["deletion_auc"] < m["random_deletion_auc"] and m["insertion_auc"] > m["random_insertion_auc"]
        for m in maps
    ]
    assert len(maps) == 3 and result.figure == pytest.approx(np.mean(by_hand))
    assert result.status == ("passed" if np.mean(by_hand) >= 0.5 else "failed")


# ---------------------------------------------------------------- one-vs-one: deletion as a share of the gap


def _contrast(ctx: checks.Context, row: int, ours: list[float] | None, theirs: list[float]) -> Contrast:
    """A row whose one-vs-one and compared maps have these deletion curves over fractions 0, 1/2, 1
    (None: no valid counterfactual); the AUCs are the trapezoids, taken with np.trapezoid."""
    x = np.asarray(ctx.data.x[0])  # type: ignore[union-attr]
    fractions = np.linspace(0.0, 1.0, 3)

    def judged(curve: list[float]) -> tuple[Attribution, Faithfulness]:
        values = np.array(curve)
        area = float(np.trapezoid(values, fractions))
        attribution = Attribution(
            map=np.ones(x.shape[1:]), method="one-vs-one/occlusion", target=0, score="log_ratio", settings={},
            queries=0, calls=0, seconds=0.0, score_input=curve[0], score_baseline=curve[-1], contrast=1,
            total=curve[0] - curve[-1], extra={"gap": curve[0] - curve[-1]},
        )  # fmt: skip
        faith = Faithfulness(
            target=0, fractions=fractions, deletion=values, insertion=values[::-1], random_deletion=values,
            random_insertion=values[::-1], deletion_auc=area, insertion_auc=area, random_deletion_auc=area,
            random_insertion_auc=area, orders=1, queries=0, calls=0, seconds=0.0,
        )  # fmt: skip
        return attribution, faith

    if ours is None:
        return Contrast(row, x, x, 0, 1, False)
    (mine, mine_faith), (other, other_faith) = judged(ours), judged(theirs)
    return Contrast(row, x, x, 0, 1, True, mine, other, mine_faith, other_faith)


def test_one_vs_one_judges_the_median_deletion_share_and_the_share_of_better_maps(tmp_path: Path) -> None:
    config = load_config(build(tmp_path))
    ctx = checks.Context.open(config)
    parts = [
        Contrasts(
            (
                # area 0.5 * (4 + 0) / 2 + 0.5 * (0 - 2) / 2 = 0.5 over the gap 6, from -2: 2.5 / 6 = 0.41667;
                # compared: 0.5 * 3.5 + 0.5 * 0.5 = 2.0 -> 4 / 6 = 0.66667: better
                _contrast(ctx, 10, [4.0, 0.0, -2.0], [4.0, 3.0, -2.0]),
                # 0.5 * 1.5 + 0.5 * 0.5 = 1.0 -> 1 / 2 = 0.5; compared 0.75 -> 0.375: not better
                _contrast(ctx, 11, [2.0, 1.0, 0.0], [2.0, 0.5, 0.0]),
            ),
            (),
        ),
        Contrasts(
            (
                _contrast(ctx, 12, None, []),  # no valid counterfactual: listed, left out of the figures
                # 0.5 * 0 + 0.5 * (-1) = -0.5 -> 0.5 / 2 = 0.25; compared 0.5 -> 1.5 / 2 = 0.75: better
                _contrast(ctx, 13, [1.0, -1.0, -1.0], [1.0, 1.0, -1.0]),
            ),
            (),
        ),
    ]
    rules = {"max_deletion_auc": 0.4, "min_better_share": 0.6}
    settings = dataclasses.replace(checks.ONE_VS_ONE.settings(config), **rules)
    outcome = merge_one_vs_one(ctx, settings, parts)
    shares = {m["index"]: m.get("deletion_auc") for m in outcome.details["maps"]}
    assert shares == pytest.approx({10: 2.5 / 6, 11: 0.5, 12: None, 13: 0.25})
    assert [m.get("better") for m in outcome.details["maps"]] == [True, False, None, True]
    assert outcome.figure == pytest.approx(2.5 / 6)  # the median of 0.41667, 0.5, 0.25
    assert outcome.details["median_compared_deletion_auc"] == pytest.approx(2 / 3)
    assert outcome.details["no_counterfactual_rows"] == [12] and outcome.details["judged_rows"] == 3
    deletion, better = outcome.criteria
    assert (deletion.value, deletion.threshold, deletion.passed) == (pytest.approx(2.5 / 6), 0.4, False)
    assert (better.value, better.threshold, better.passed) == (pytest.approx(2 / 3), 0.6, True)
    relaxed = merge_one_vs_one(ctx, dataclasses.replace(settings, max_deletion_auc=0.45), parts)
    assert all(criterion.passed for criterion in relaxed.criteria)


# ---------------------------------------------------------------- exemplars: reached at the confidence


def test_a_class_is_reached_only_at_the_confidence(three_class: AuditReport) -> None:
    result = three_class.check("exemplars")
    per_class = {row["name"]: row for row in result.details["per_class"]}
    # by hand: classes zero and one reach p > 0.99 at a corner of the data box; class two never passes 0.16
    assert per_class["zero"]["found"] >= 1 and per_class["one"]["found"] >= 1
    assert per_class["two"]["found"] == 0 and per_class["two"]["best_confidence"] < 0.16
    assert result.details["unreached"] == ["two"]
    assert result.figure == pytest.approx(2 / 3)
    assert result.status == "failed"  # 2/3 < min_reached 0.9
    assert "classes reached 0.6667 is not >= 0.9" in (result.reason or "")
    for exemplar in result.details["exemplars"]:
        assert exemplar["success"] == (exemplar["confidence"] >= 0.9)


# ---------------------------------------------------------------- counterfactuals: valid only on target


def test_a_counterfactual_is_valid_only_when_the_model_gives_the_target(three_class: AuditReport) -> None:
    result = three_class.check("counterfactuals")
    listed = result.details["counterfactuals"]
    assert len(listed) == 8
    for entry in listed:
        # by hand: a runner-up of class two cannot be reached; the other runner-up is a step away
        assert entry["valid"] == (entry["target_name"] != "two"), entry
        if not entry["valid"]:
            assert entry["confidence"] < 0.16  # the target's probability: class two never gets more
    assert result.figure == pytest.approx(0.5)  # 4 valid of 8, counted here
    assert result.status == "failed"  # 0.5 < min_validity 0.75
