"""The opt-in robustness check: its figures are the library's on the same rows and seed, thresholds judge them,
and a label-only model gets radii no smaller than its analytic distance to the decision boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_factory import linear, linear_classifier_ml, save

from auditor.audit import checks
from auditor.audit.config import load_config
from auditor.audit.runner import run_check
from auditor.audit.seeds import unit_seed
from auditor.cli import main
from auditor.explain.robustness import RobustnessParams, censored_median, robustness

DIGITS = Path(__file__).resolve().parents[2] / "sample_models" / "digits"
OTHERS_OFF = "".join(
    f"[checks.{name}]\nenabled = false\n\n"
    for name in ("accuracy", "stability", "exemplars", "counterfactuals", "attributions")
)


def workspace(root: Path, model: Path, data: Path, robustness_table: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "audit.toml"
    config.write_text(
        f'[model]\npath = "{model.as_posix()}"\n\n[data]\npath = "{data.as_posix()}"\n\n'
        f'[run]\nseed = 3\ndevice = "cpu"\nthreads = 1\nformats = ["json"]\n\n'
        f"{OTHERS_OFF}[checks.robustness]\n{robustness_table}\n",
        encoding="utf-8",
    )
    return config


def digits_config(root: Path, extra: str = "") -> Path:
    table = f"samples = 6\nbudget = 150\neps = 0.05\n{extra}"
    return workspace(root, DIGITS / "classifier.onnx", DIGITS / "samples.npz", table)


def run_main(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[checks.Context, checks.CheckResult]:
    ctx = checks.Context.open(load_config(digits_config(tmp_path_factory.mktemp("digits"))))
    return ctx, run_check(checks.ROBUSTNESS, ctx)


def test_figures_are_the_librarys_on_the_same_rows_and_seed(digits) -> None:
    ctx, result = digits
    assert result.status == "reported"
    details = result.details
    rows = [entry["index"] for entry in details["radii"]]
    assert len(rows) == len(set(rows)) == 6 and details["method"] == "square" and details["norm"] == "linf"
    assert ctx.data is not None and ctx.data.y is not None
    library = robustness(
        ctx.blackbox,
        ctx.data.x[rows],
        RobustnessParams(budget=150),
        labels=ctx.data.y[rows],
        reference=ctx.data.ref,
        rng=unit_seed(3, "robustness", 0),  # six rows: one unit, the first
    )
    radii = library.radii
    assert result.figure == library.median_radius() and result.figure is not None and result.figure > 0
    assert details["found_fraction"] == pytest.approx(float(np.isfinite(radii).mean()))
    assert [entry["radius"] for entry in details["radii"]] == [e.radius for e in library.inputs]
    correct = ctx.data.y[rows] == np.array([e.source for e in library.inputs])
    drop = correct.mean() - (correct & (radii > 0.05)).mean()
    assert details["accuracy_drop_at_eps"] == pytest.approx(float(drop))
    per_class = {entry["name"]: entry["median_radius"] for entry in details["per_class"]}
    assert per_class == library.median_radius_per_class()
    assert result.queries == library.queries  # the check spends exactly the library's queries
    assert [f.name for f in result.figures] == ["robustness-flips"]
    assert result.figures[0].png.startswith(b"\x89PNG")


def test_thresholds_judge_the_median_radius_through_the_cli(digits, tmp_path: Path) -> None:
    _, result = digits
    measured = result.figure
    assert measured is not None
    above = digits_config(tmp_path / "above", f"min_median_radius = {measured * 1.5}")
    below = digits_config(tmp_path / "below", f"min_median_radius = {measured * 0.5}")
    assert (
        run_main("audit", "--config", str(above), "--out", str(tmp_path / "o1"), "--quiet", "--trust-model")
        == 1
    )
    assert (
        run_main("audit", "--config", str(below), "--out", str(tmp_path / "o2"), "--quiet", "--trust-model")
        == 0
    )


def test_max_accuracy_drop_without_eps_is_a_config_error(tmp_path: Path) -> None:
    table = "samples = 2\nbudget = 20\nmax_accuracy_drop_at_eps = 0.1"
    config = workspace(tmp_path, DIGITS / "classifier.onnx", DIGITS / "samples.npz", table)
    assert (
        run_main("audit", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet", "--trust-model")
        == 2
    )


def test_the_check_is_off_and_unlisted_without_its_table() -> None:
    config = load_config(DIGITS / "audit.toml")
    assert config.checks.robustness is None and not checks.ROBUSTNESS.listed(config)
    assert "robustness" not in config.to_dict()["checks"]


def test_a_label_only_model_gets_radii_no_smaller_than_its_boundary_distance(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3)), rng.normal(size=3) * 0.1
    proto = linear_classifier_ml(w, b, zipmap=False)
    del proto.graph.output[1:]  # only the label: a hard-label black box
    model = save(proto, tmp_path / "label_only.onnx")
    x = rng.normal(size=(40, 4)).astype(np.float32)
    z = x @ w + b
    y = z.argmax(axis=1)
    np.savez(tmp_path / "data.npz", X=x, y=y)
    config = workspace(tmp_path, model, tmp_path / "data.npz", 'samples = 8\nnorm = "l2"\nbudget = 400')
    ctx = checks.Context.open(load_config(config))
    assert ctx.blackbox.signature.hard_label
    result = run_check(checks.ROBUSTNESS, ctx)
    details = result.details
    assert result.status == "reported" and details["method"] == "hopskipjump" and details["labels_only"]
    assert details["found_fraction"] == 1.0 and result.figure is not None
    for entry in details["radii"]:
        c, row = entry["source"], x[entry["index"]]
        # the distance to the nearest other class's half-space bounds every flipping L2 perturbation below
        gaps = [
            (z[entry["index"], c] - z[entry["index"], j]) / np.linalg.norm(w[:, c] - w[:, j])
            for j in range(3)
            if j != c
        ]
        assert c == y[entry["index"]] and entry["radius"] >= min(gaps) * (1 - 1e-4)
        assert row.shape == (4,)


def test_a_censored_median_is_the_median_with_each_not_found_radius_at_its_lower_bound() -> None:
    inf = np.inf
    # found radii 1 and 2, three not found with bounds 5, 6, 0.5: values 1, 2, 5, 6, 0.5 -> median 2; the
    # not-found 0.5 lies at or below it, so 2 is only a lower bound
    assert censored_median(np.array([1.0, 2.0, inf, inf, inf]), np.array([1.0, 2.0, 5.0, 6.0, 0.5])) == (
        2.0,
        True,
    )
    # every not-found bound above the median: the median is exact
    assert censored_median(np.array([1.0, 2.0, 3.0, inf]), np.array([1.0, 2.0, 3.0, 9.0])) == (2.5, False)
    assert censored_median(np.array([]), np.array([])) == (None, False)


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A logistic regression whose boundary lies far outside the data's box: no row can flip inside it. The
    box's L∞ diameter (its widest feature's range) is the largest ε the search can try."""
    root = tmp_path_factory.mktemp("unreachable")
    rng = np.random.default_rng(5)
    w = rng.normal(size=(4, 1))
    x = rng.normal(size=(30, 4)).astype(np.float32)
    bias = np.array([10.0 * np.abs(w).sum() * np.abs(x).max()])  # w·x + b > 0 over the whole box
    save(linear(w, bias, head="sigmoid"), root / "far.onnx")
    np.savez(root / "data.npz", X=x, y=np.ones(len(x), dtype=np.int64))
    return root, float((x.max(axis=0) - x.min(axis=0)).max())


def unreachable_check(root: Path, threshold: float, name: str) -> checks.CheckResult:
    # budget: 200 queries at each of ε = d/4, d/2, d (d the diameter) and more at d: every ε fails
    table = f"samples = 6\nbudget = 700\nmin_median_radius = {threshold}"
    config = workspace(root / name, root / "far.onnx", root / "data.npz", table)
    return run_check(checks.ROBUSTNESS, checks.Context.open(load_config(config)))


def test_unflipped_inputs_count_at_the_largest_radius_tried_and_pass_a_threshold_below_it(
    unreachable,
) -> None:
    root, diameter = unreachable
    result = unreachable_check(root, diameter / 2, "below")
    details = result.details
    assert details["method"] == "square" and details["found_fraction"] == 0.0
    assert [entry["lower_bound"] for entry in details["radii"]] == pytest.approx([diameter] * 6, rel=1e-6)
    assert result.figure == pytest.approx(diameter, rel=1e-6) and details["median_radius_censored"]
    assert "at least" in details["median_radius_note"]
    assert result.status == "passed"  # the median is at least the diameter, above the threshold


def test_a_threshold_above_a_censored_median_is_not_judged_rather_than_failed(unreachable) -> None:
    root, diameter = unreachable
    result = unreachable_check(root, diameter * 2, "above")
    assert result.figure == pytest.approx(diameter, rel=1e-6) and result.details["median_radius_censored"]
    assert result.status == "reported" and not result.criteria
    assert "not judged" in result.details["median_radius_note"]
