"""skl2onnx string-label models (ZipMap with string keys) audit from an .npz whose y holds the class names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_factory import linear_classifier_ml, save, softmax

from auditor.audit import checks as C
from auditor.audit.config import load_config
from auditor.audit.runner import run_check
from auditor.cli import main
from auditor.errors import DataError

NAMES = ("cat", "dog", "eel")
RNG = np.random.default_rng(4)
W = RNG.normal(size=(4, 3)).astype(np.float32)
B = RNG.normal(size=3).astype(np.float32)
X = RNG.normal(size=(50, 4)).astype(np.float32)
CONFIG = """\
[model]
path = "zipmap.onnx"
[data]
path = "{data}"
[run]
device = "cpu"
[checks.stability]
enabled = false
[checks.exemplars]
enabled = false
[checks.counterfactuals]
enabled = false
[checks.attributions]
enabled = false
"""


def workspace(root: Path, labels: np.ndarray) -> Path:
    save(linear_classifier_ml(W, B, zipmap=True, string_labels=NAMES), root / "zipmap.onnx")
    np.savez(root / "d.npz", X=X, y=labels)
    config = root / "audit.toml"
    config.write_text(CONFIG.format(data="d.npz"), encoding="utf-8")
    return config


def test_accuracy_from_label_names(tmp_path: Path) -> None:
    truth = softmax(X @ W + B).argmax(axis=1)
    labels = np.array(NAMES)[truth]
    labels[:5] = np.array(NAMES)[(truth[:5] + 1) % 3]  # five wrong labels
    ctx = C.Context.open(load_config(workspace(tmp_path, labels)))
    assert ctx.blackbox.class_names == NAMES and ctx.blackbox.signature.convention == "zipmap"
    assert ctx.data is not None and ctx.data.y is not None
    np.testing.assert_array_equal(ctx.data.y[5:], truth[5:])
    result = run_check(C.ACCURACY, ctx)
    assert result.status == "reported" and result.figure == pytest.approx(45 / 50)  # no threshold set


def test_a_label_the_model_does_not_know_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = np.array(NAMES * 17)[:50]
    labels[7] = "gnu"
    config = workspace(tmp_path, labels)
    with pytest.raises(DataError, match=r"d.npz: label 'gnu' is not a class of the model"):
        C.Context.open(load_config(config))
    with pytest.raises(SystemExit) as info:
        main(["audit", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet", "--trust-model"])
    stderr = capsys.readouterr().err
    assert info.value.code == 2
    assert "label 'gnu' is not a class of the model (classes: 'cat', 'dog', 'eel')" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
