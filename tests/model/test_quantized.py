"""Quantized and half-precision copies of the digits classifier load, inspect and keep their accuracy.

The copies are made here with ONNX Runtime's own tools: dynamic int8 (weights int8, activations
quantized at run time), static QDQ int8 (QuantizeLinear/DequantizeLinear pairs, calibrated on 200
sample rows) and float16 (every initializer and the input/output in fp16).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.transformers.float16 import convert_float_to_float16

from auditor.cli import main
from auditor.model.blackbox import BlackBox
from auditor.model.describe import describe


class Rows(CalibrationDataReader):
    """Calibration batches of sample rows for static quantization."""

    def __init__(self, x: np.ndarray) -> None:
        self.batches = iter([{"input": x[i : i + 50]} for i in range(0, len(x), 50)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def dynamic_int8(source: Path, target: Path, x: np.ndarray) -> None:
    quantize_dynamic(source, target, weight_type=QuantType.QInt8)


def static_qdq(source: Path, target: Path, x: np.ndarray) -> None:
    quantize_static(
        source,
        target,
        Rows(x[:200]),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
    )


def float16(source: Path, target: Path, x: np.ndarray) -> None:
    onnx.save(convert_float_to_float16(onnx.load(source), keep_io_types=False), target)


@pytest.mark.parametrize(
    ("make", "input_type", "op"),
    [
        (dynamic_int8, "tensor(float)", "DynamicQuantizeLinear"),
        (static_qdq, "tensor(float)", "QuantizeLinear"),
        (float16, "tensor(float16)", None),
    ],
)
def test_copy_loads_inspects_and_keeps_accuracy(
    digits_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path, Path, np.ndarray], None],
    input_type: str,
    op: str | None,
) -> None:
    data = np.load(digits_dir / "samples.npz")
    x, y = data["X"], data["y"]
    target = tmp_path / "copy.onnx"
    with caplog.at_level(logging.ERROR):  # the tools' advice to pre-process is logged at WARNING
        make(digits_dir / "classifier.onnx", target, x)
    if op is not None:
        assert op in {node.op_type for node in onnx.load(target).graph.node}
    original = BlackBox.open(digits_dir / "classifier.onnx")
    copy = BlackBox.open(target)
    facts = describe(copy)
    assert facts["inputs"][0]["type"] == input_type
    assert facts["convention"] == "logits" and facts["n_classes"] == 10
    reference = float((original.predict_labels(x) == y).mean())
    accuracy = float((copy.predict_labels(x) == y).mean())
    assert reference == pytest.approx(445 / 450)
    assert abs(accuracy - reference) <= 0.02, (make.__name__, accuracy, reference)
    probs = copy.predict(x[:8])
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    audited = audit_accuracy(target, digits_dir / "samples.npz", tmp_path)
    assert audited == pytest.approx(accuracy) and abs(audited - reference) <= 0.02
    print(
        f"{make.__name__}: accuracy {accuracy:.4f}, float model {reference:.4f}, delta {accuracy - reference:+.4f}"
    )


def audit_accuracy(model: Path, data: Path, folder: Path) -> float:
    """The accuracy figure of `auditor audit` (the accuracy check alone) on the model and labelled data."""
    config = folder / "audit.toml"
    disabled = "".join(
        f"[checks.{name}]\nenabled = false\n"
        for name in ("stability", "exemplars", "counterfactuals", "attributions")
    )
    config.write_text(
        f'[model]\npath = "{model}"\n[data]\npath = "{data}"\n[run]\ndevice = "cpu"\nformats = ["json"]\n{disabled}',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as stop:
        main(["audit", "--config", str(config), "--out", str(folder / "out"), "--quiet"])
    assert stop.value.code in (0, None)
    report = json.loads((folder / "out" / "report.json").read_text())
    return float(next(c["figure"] for c in report["checks"] if c["name"] == "accuracy"))
