"""Data as users hold it, through the CLI and audit.toml: --preprocess and [preprocess], --class-names FILE,
class names in --classes/--target, --output-batch-axis and [model] output_batch_axis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model.test_batch_axis import transposed_scores
from onnx_factory import save
from PIL import Image

from auditor.cli import main
from auditor.model.blackbox import BlackBox, OpenOptions

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ROWS = 40


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(args)
    captured = capsys.readouterr()
    return int(stop.value.code or 0), captured.out, captured.err


@pytest.fixture(scope="module")
def digit_folder(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first digits as 0-255 grey PNGs in class sub-folders named by the class names (zero, one, ...)."""
    root = tmp_path_factory.mktemp("digits") / "images"
    data = np.load(digits_dir / "samples.npz")
    for i, (x, y) in enumerate(zip(data["X"][:ROWS], data["y"][:ROWS])):
        folder = root / NAMES[int(y)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(x[0] * 255).astype(np.uint8), "L").save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def names_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("names") / "config.json"
    path.write_text(json.dumps({"id2label": {str(i): n for i, n in enumerate(NAMES)}}), encoding="utf-8")
    return path


def test_inspect_prints_the_contract_and_names_from_a_file(
    digits_dir: Path, names_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(digits_dir / "classifier.onnx")
    code, out, _ = run_cli(
        ["inspect", model, "--preprocess", "unit", "--class-names", str(names_file)], capsys
    )
    assert code == 0
    assert "preprocess   unit: colour, ×1/255" in out and "classes      10: zero, one, two" in out
    code, out, _ = run_cli(["inspect", model, "--json"], capsys)
    info = json.loads(out)
    assert info["preprocess"]["preset"] == "none" and info["preprocess"]["scale"] == 1.0
    assert info["input_values"] == {"discrete": False, "low": None, "high": None}


def test_audit_of_an_image_folder_with_label_names_under_a_contract(
    digits_dir: Path, digit_folder: Path, names_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[model]\npath = "{digits_dir / "classifier.onnx"}"\nclass_names_file = "{names_file}"\n'
        f'[data]\npath = "{digit_folder}"\n[preprocess]\npreset = "unit"\nmode = "L"\n'
        '[run]\ndevice = "cpu"\nformats = ["json"]\n'
        + "".join(
            f"[checks.{name}]\nenabled = false\n"
            for name in ("stability", "exemplars", "counterfactuals", "attributions")
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, _, err = run_cli(["audit", "--config", str(config), "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    provenance = report["provenance"]
    assert provenance["preprocess"]["preset"] == "unit" and provenance["preprocess"]["mode"] == "L"
    assert provenance["class_names"] == list(NAMES) and provenance["rows"] == ROWS
    # the same pixels scaled by hand through the plain model: the contract changed nothing but where it runs
    files = sorted(digit_folder.glob("*/*.png"))
    pixels = np.stack([np.asarray(Image.open(f), dtype=np.float32)[None] for f in files])
    labels = np.array([NAMES.index(f.parent.name) for f in files])
    plain = BlackBox.open(digits_dir / "classifier.onnx", OpenOptions(device="cpu"))
    expected = float((plain.predict_labels(pixels / 255) == labels).mean())
    accuracy = next(c for c in report["checks"] if c["name"] == "accuracy")
    assert accuracy["figure"] == pytest.approx(expected) and expected > 0.9


def test_a_label_the_model_does_not_know_exits_2_naming_it(
    digits_dir: Path, digit_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(digits_dir / "classifier.onnx")
    code, _, err = run_cli(
        ["robustness", model, "--data", str(digit_folder), "--preprocess", "unit", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 2 and "label 'eight' is not a class of the model" in err  # no names given: 0..9


def test_classes_and_targets_by_name(
    digits_dir: Path, digit_folder: Path, names_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(digits_dir / "classifier.onnx")
    common = ["--class-names", str(names_file), "--preprocess", "unit", "--out", str(tmp_path), "--quiet"]
    code, _, err = run_cli(
        [
            "counterfactual",
            model,
            "--input",
            str(digit_folder),
            "--target",
            "seven",
            "--budget",
            "40",
            *common,
        ],
        capsys,
    )
    assert code in (0, 1), err
    written = json.loads((tmp_path / "counterfactuals.json").read_text())["counterfactuals"][0]
    assert written["target"] == 7 and written["target_name"] == "seven"
    code, _, err = run_cli(
        ["counterfactual", model, "--input", str(digit_folder), "--target", "eleven", *common], capsys
    )
    assert code == 2 and "--target: 'eleven' is neither a class name nor an index 0..9" in err
    code, _, err = run_cli(
        [
            "exemplars",
            model,
            "--data",
            str(digit_folder),
            "--classes",
            "three,nine",
            "--budget",
            "20",
            *common,
        ],
        capsys,
    )
    assert code in (0, 1), err
    found = json.loads((tmp_path / "exemplars.json").read_text())["classes"]
    assert [(c["target"], c["target_name"]) for c in found] == [(3, "three"), (9, "nine")]


def test_attribute_names_its_classes_from_the_data_file(
    tabular_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = str(tabular_dir / "classifier.onnx"), str(tabular_dir / "samples.npz")
    code, _, err = run_cli(["attribute", model, "--input", data, "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    written = json.loads((tmp_path / "attribution.json").read_text())
    assert written["target_name"] in ("malignant", "benign")


def test_output_batch_axis_from_the_flag_and_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(save(transposed_scores(), tmp_path / "t.onnx"))
    code, _, err = run_cli(["inspect", model], capsys)
    assert code == 2 and "--output-batch-axis 1" in err
    code, out, _ = run_cli(["inspect", model, "--output-batch-axis", "1", "--json"], capsys)
    assert code == 0 and json.loads(out)["n_classes"] == 3 and json.loads(out)["output_batch_axis"] == 1
    rows = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    np.savez(tmp_path / "rows.npz", X=rows)
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[model]\npath = "{model}"\noutput_batch_axis = 1\n[data]\npath = "rows.npz"\n'
        '[run]\ndevice = "cpu"\nformats = ["json"]\n'
        + "".join(
            f"[checks.{name}]\nenabled = false\n"
            for name in ("accuracy", "exemplars", "counterfactuals", "attributions")
        ),
        encoding="utf-8",
    )
    code, _, err = run_cli(
        ["audit", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"], capsys
    )
    assert code in (0, 1), err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["provenance"]["n_classes"] == 3 and report["provenance"]["output_batch_axis"] == 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'preset = "imagenet"\nscale = [0, 2]',
            "'preprocess.scale' [low, high] is the older form",
        ),
        (
            'preset = "imagenet"\nsize = [32, 32]',
            "'preprocess' give size (exact) or resize (shorter side), not both",
        ),
        ('preset = "sepia"', "'preprocess.preset' must be one of none, unit, imagenet, imagenet-bgr-caffe"),
        ("mean = [1, 2]\nstd = 0.5", "'preprocess.mean' must be 1 or 3 finite numbers"),
        ("crop = 0", "'preprocess.crop' must be a positive integer or a list of two"),
    ],
)
def test_a_wrong_contract_in_the_config_is_one_line(
    digits_dir: Path,
    digit_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    table: str,
    message: str,
) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[model]\npath = "{digits_dir / "classifier.onnx"}"\n[data]\npath = "{digit_folder}"\n[preprocess]\n{table}\n',
        encoding="utf-8",
    )
    code, _, err = run_cli(["audit", "--config", str(config), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    code, _, err = run_cli(["validate-config", str(config)], capsys)
    assert code == 2 and message in err
