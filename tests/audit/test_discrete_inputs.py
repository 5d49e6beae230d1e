"""Discrete inputs end to end: a file-type classifier over 2,048 byte values keeps every value an integer in
0..255 in the stability check, the exemplar and counterfactual searches and the attribution baselines.

The float32 copy declares its bytes in audit.toml (`discrete = true`, `value_range`); its fifth class,
"off-set", wins as soon as any row sent to it leaves the value set, so the model itself reports a lapse.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from byte_factory import byte_rows, checked_byte_classifier, save_byte_workspace
from onnx_factory import save

from auditor.cli import main
from auditor.explain.attribution.explanation import ExplainParams, explain_input
from auditor.explain.exemplars import ExemplarParams, exemplars
from auditor.explain.robustness import RobustnessParams, robustness
from auditor.model.blackbox import BlackBox, OpenOptions

CHECKS = """
[checks.stability]
samples = 24
repeats = 2
[checks.exemplars]
enabled = false
[checks.counterfactuals]
samples = 4
target = "any"
budget = 200
matrix = false
[checks.attributions]
samples = 2
baseline = "mean"
"""


def audit(tmp_path: Path, model_table: str, checks: str, capsys: pytest.CaptureFixture[str]) -> dict:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[model]\n{model_table}\n[data]\npath = "bytes.npz"\n[run]\ndevice = "cpu"\nformats = ["json"]\n{checks}',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit):
        main(["audit", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    assert "error" not in capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return {check["name"]: check for check in report["checks"]}


def test_declared_bytes_stay_in_their_value_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_byte_workspace(tmp_path)  # bytes.npz: rows of integer bytes, labels as names
    save(checked_byte_classifier(), tmp_path / "checked.onnx")
    checks = audit(tmp_path, 'path = "checked.onnx"\ndiscrete = true\nvalue_range = [0, 255]', CHECKS, capsys)
    stability = checks["stability"]["details"]
    assert stability["noise"]["kind"] == "replacement"
    assert stability["noise"]["values"] == {"discrete": True, "low": 0.0, "high": 255.0}
    assert checks["stability"]["figure"] < 0.5  # noise off the integers would flip every copy to off-set
    found = checks["counterfactuals"]["details"]["counterfactuals"]
    assert found and all(entry["target_name"] != "off-set" for entry in found)
    changed = np.array([change["to"] for entry in found for change in entry["changes"]])
    assert (
        changed.size and (changed == np.rint(changed)).all() and changed.min() >= 0 and changed.max() <= 255
    )
    maps = checks["attributions"]["details"]["maps"]
    # a baseline off the integers (the mean) would send every occluded copy to off-set: attributions near 1
    assert maps and max(abs(f["attribution"]) for m in maps for f in m["top_features"]) < 0.2


def test_undeclared_float_bytes_take_gaussian_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the declaration the same model is real-valued: noise leaves the integers, and it shows."""
    save_byte_workspace(tmp_path)
    save(checked_byte_classifier(), tmp_path / "checked.onnx")
    only_stability = "".join(
        f"[checks.{name}]\nenabled = false\n" for name in ("exemplars", "counterfactuals", "attributions")
    )
    checks = audit(
        tmp_path, 'path = "checked.onnx"', "[checks.stability]\nsamples = 24\n" + only_stability, capsys
    )
    assert checks["stability"]["details"]["noise"]["kind"] == "gaussian"
    assert checks["stability"]["figure"] > 0.9


def test_int32_bytes_through_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, data = save_byte_workspace(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                *("counterfactual", str(model), "--input", str(data), "--index", "0,20", "--target", "any"),
                *("--budget", "150", "--out", str(tmp_path / "cf"), "--quiet"),
            ]
        )
    assert stop.value.code in (0, 1, None), capsys.readouterr().err
    written = json.loads((tmp_path / "cf" / "counterfactuals.json").read_text())["counterfactuals"]
    changed = np.array([change["to"] for entry in written for change in entry["changes"]])
    assert (
        changed.size and (changed == np.rint(changed)).all() and changed.min() >= 0 and changed.max() <= 255
    )

    blackbox = BlackBox.open(model, OpenOptions(device="cpu"))
    rows, _ = byte_rows(3, seed=5)
    explained = explain_input(blackbox, rows[0], ExplainParams(baseline="mean"), reference=rows)
    baseline = np.asarray(explained.baseline)
    assert (baseline == np.rint(baseline)).all() and baseline.min() >= 0 and baseline.max() <= 255
    assert not np.array_equal(baseline, rows.mean(axis=0))  # the mean itself is not a byte row


def test_exemplar_searches_over_bytes_return_bytes(tmp_path: Path) -> None:
    blackbox = BlackBox.open(
        save(checked_byte_classifier(), tmp_path / "checked.onnx"),
        OpenOptions(device="cpu", discrete=True, value_range=(0, 255)),
    )
    rows, _ = byte_rows(12)
    found = exemplars(blackbox, None, [0, 2], reference=rows, params=ExemplarParams(budget=100), rng=1)
    inputs = np.array([entry["input"] for entry in found.to_dict()["exemplars"]])
    assert (inputs == np.rint(inputs)).all() and inputs.min() >= 0 and inputs.max() <= 255
    assert found.space == "input"


@pytest.mark.parametrize(
    ("flags", "values"),
    [
        ((), {"discrete": False, "low": None, "high": None}),
        (("--discrete", "--value-range", "0,255"), {"discrete": True, "low": 0.0, "high": 255.0}),
    ],
)
def test_inspect_says_how_values_are_perturbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], values: dict
) -> None:
    model = save(checked_byte_classifier(), tmp_path / "checked.onnx")
    with pytest.raises(SystemExit) as stop:
        main(["inspect", str(model), "--json", *flags])
    assert stop.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["input_values"] == values
    with pytest.raises(SystemExit) as stop:
        main(["inspect", str(model), "--value-range", "255,0"])
    assert (
        stop.value.code == 2
        and "--value-range: '255,0' must be finite with LOW <= HIGH" in capsys.readouterr().err
    )


def test_gaussian_noise_methods_are_refused_for_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = save_byte_workspace(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "attribute",
                str(model),
                "--input",
                str(data),
                "--method",
                "gaussian-lime",
                "--out",
                str(tmp_path),
            ]
        )
    assert stop.value.code == 2 and "use occlusion, feature-ablation or lime" in capsys.readouterr().err
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[model]\npath = "{model}"\n[checks.attributions]\nmethods = ["occlusion", "gaussian-lime"]\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as stop:
        main(["audit", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "audit.toml:4: 'checks.attributions.methods' holds gaussian-lime" in err


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_robustness_perturbs_bytes_within_their_value_set(tmp_path: Path, norm: str) -> None:
    model, _ = save_byte_workspace(tmp_path)
    blackbox = BlackBox.open(model, OpenOptions(device="cpu"))
    rows, _ = byte_rows(3, seed=7)
    result = robustness(blackbox, rows, RobustnessParams(norm=norm, budget=300), rng=0)
    found = [entry.index for entry in result.inputs if entry.found]
    assert found  # bytes that move flip this model's class
    perturbed = result.perturbed[found]
    assert (perturbed == np.rint(perturbed)).all() and perturbed.min() >= 0 and perturbed.max() <= 255
    labels = blackbox.predict_labels(perturbed)
    assert (labels != np.array([result.inputs[i].source for i in found])).all()  # the integer rows still flip
