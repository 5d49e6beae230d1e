"""A tiny audit workspace for tests: an 8x8 image classifier, labelled data, a PCA generator, audit.toml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model as make_model
from onnx_factory import save

from auditor.audit.plan import AuditPlan, CheckPlan, Cost
from auditor.audit.results import AuditReport
from auditor.jsonable import jsonable
from generators.pca import save_pca

# timings to plan with, so that the reductions do not depend on this machine's load
FIXED_COST = Cost(
    call=1e-3,
    row=1e-4,
    generator_row=1e-5,
    steps={},
    rows_per_second=1e4,
    batch_size=256,
    threads=1,
    source="test",
)

CONFIG = """\
[model]
path = "{model}"

[generator]
path = "generator.onnx"
encoder = "encoder.onnx"

[data]
path = "data.npz"

[run]
seed = {seed}
device = "cpu"
threads = 1
budget = 60

[checks.accuracy]
min = {min_accuracy}

[checks.stability]
samples = 40
repeats = 2
max_flip_rate = 0.5

[checks.exemplars]
per_class = 1
min_confidence = 0.5
min_reached = 0.0

[checks.counterfactuals]
samples = 2
method = "es"
min_validity = 0.0
matrix_budget = 30

[checks.attributions]
methods = ["occlusion"]
samples = 1
steps = 8
orders = 2
min_faithful = 0.0
"""


def image_classifier(output_name: str = "logits", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """(N, 1, 8, 8) -> 3 logits by one dense layer over the pixels: every pixel matters, predictions vary."""
    w = np.random.default_rng(5).normal(0.0, 0.6, (64, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], [output_name]),
    ]
    return make_model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W")],
        metadata=metadata,
    )


def build(
    root: Path,
    *,
    wrong_labels: int = 0,
    min_accuracy: float = 0.9,
    seed: int = 0,
    model_name: str = "model.onnx",
    output_name: str = "logits",
    metadata: dict[str, str] | None = None,
    doc_string: str = "",
    rows: int = 60,
) -> Path:
    """Write the workspace into root and return the audit.toml path; `wrong_labels` rows get a wrong label."""
    root.mkdir(parents=True, exist_ok=True)
    proto = image_classifier(output_name, metadata)
    proto.doc_string = doc_string
    model = save(proto, root / model_name)
    x = np.random.default_rng(0).uniform(0, 1, (rows, 1, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    y = session.run(None, {"image": x})[0].argmax(axis=1)
    y[:wrong_labels] = (y[:wrong_labels] + 1) % 3
    np.savez(root / "data.npz", X=x, y=y)
    save_pca(x, 4, root / "generator.onnx", root / "encoder.onnx", lower=0.0, upper=1.0)
    config = root / "audit.toml"
    config.write_text(CONFIG.format(model=model_name, seed=seed, min_accuracy=min_accuracy), encoding="utf-8")
    return config


def reduced_checks(plan: AuditPlan, full: AuditPlan, budget: str) -> dict[str, CheckPlan]:
    """The checks `plan` cut, by name, each cut checked: below the full-size plan, smaller than before, the
    budget (as written, e.g. "10 s") in its reason, and in the check's settings."""
    reduced = {c.name: c for c in plan.checks if c.reductions}
    for entry in reduced.values():
        before = full.check(entry.name)
        assert before is not None and entry.seconds < before.seconds
        for cut in entry.reductions:
            assert cut.after < cut.before and f"time budget of {budget}" in cut.why
            assert getattr(entry.settings, cut.setting) == cut.after
    return reduced


def assert_ran_with_cuts(report: AuditReport, reduced: dict[str, CheckPlan]) -> None:
    """The reduced checks ran with their cut settings, which the report records."""
    for entry in reduced.values():
        result = report.check(entry.name)
        for cut in entry.reductions:
            assert result.settings[cut.setting] == jsonable(cut.after)
