"""Numerical faults: a model that returns NaN for some rows is read, not crashed on; the rows come back as NaN,
are counted, and the audit report names them."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from hostile_models import W, nan_rows
from onnx_factory import save

from auditor.cli import main
from auditor.model.blackbox import BlackBox, OpenOptions

NAN_ROWS = [3, 7, 11]


def rows() -> tuple[np.ndarray, np.ndarray]:
    """40 rows with a non-negative first feature except NAN_ROWS, and their true classes."""
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    x[:, 0] = np.abs(x[:, 0])
    x[NAN_ROWS, 0] = -1.0
    return x, (x @ W).argmax(axis=1)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as stop:
        main([*args])
    return int(stop.value.code or 0), out.getvalue(), err.getvalue()


def test_nan_rows_come_back_as_nan_and_are_counted(tmp_path):
    bb = BlackBox.open(save(nan_rows(), tmp_path / "nan.onnx"), OpenOptions(device="cpu"))
    x, _ = rows()
    probs = bb.predict(x)
    bad = np.flatnonzero(~np.isfinite(probs).all(axis=1))
    assert bad.tolist() == NAN_ROWS and np.isnan(probs[bad]).all()
    np.testing.assert_allclose(probs[np.isfinite(probs).all(axis=1)].sum(axis=1), 1.0, rtol=1e-5)
    assert bb.nonfinite == len(NAN_ROWS)
    assert (bb.predict_labels(x)[NAN_ROWS] == -1).all()


def test_inspect_reads_a_model_that_gives_nan_on_probe_rows(tmp_path):
    code, out, err = run_cli(
        "inspect", str(save(nan_rows(), tmp_path / "nan.onnx")), "--device", "cpu", "--trust-model"
    )
    assert code == 0 and "Traceback" not in err
    assert "convention   logits" in out


def test_audit_reports_nan_rows_as_a_finding(tmp_path):
    model = save(nan_rows(), tmp_path / "nan.onnx")
    x, y = rows()
    np.savez(tmp_path / "data.npz", X=x, y=y)
    out = tmp_path / "report"
    code, _, err = run_cli(
        "audit",
        str(model),
        "--data",
        str(tmp_path / "data.npz"),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--trust-model",
    )
    assert code in (0, 1) and "Traceback" not in err, err  # a finding, not bad input
    report = json.loads((out / "report.json").read_text())
    assert all(c["status"] != "not_run" for c in report["checks"]), err
    accuracy = next(c for c in report["checks"] if c["name"] == "accuracy")
    assert accuracy["details"]["nonfinite_rows"] == len(NAN_ROWS)
    lists = [
        v for v in accuracy["details"].values() if isinstance(v, list) and all(isinstance(i, int) for i in v)
    ]
    named = [v for v in lists if sorted(v) == NAN_ROWS]
    assert named, f"the accuracy check counts NaN rows but does not name them: {accuracy['details']}"


CONFIG = """\
[model]
path = "nan.onnx"
[data]
path = "data.npz"
[run]
device = "cpu"
budget = 60
[checks.stability]
samples = 40
repeats = 2
[checks.exemplars]
per_class = 1
[checks.counterfactuals]
samples = 40
method = "es"
matrix = false
[checks.attributions]
samples = 40
steps = 3
orders = 2
"""


def test_every_check_names_the_rows_it_could_not_score(tmp_path):
    """Each check that starts from data rows skips the NaN ones, lists them in report.json and the page, and runs."""
    save(nan_rows(), tmp_path / "nan.onnx")
    x, y = rows()
    np.savez(tmp_path / "data.npz", X=x, y=y)
    (tmp_path / "audit.toml").write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "report"
    code, _, err = run_cli(
        "audit", "--config", str(tmp_path / "audit.toml"), "--out", str(out), "--trust-model"
    )
    assert code in (0, 1) and "Traceback" not in err, err
    checks = {c["name"]: c for c in json.loads((out / "report.json").read_text())["checks"]}
    for name in ("accuracy", "stability", "counterfactuals", "attributions"):
        assert checks[name]["status"] != "not_run", checks[name]["reason"]
        assert checks[name]["details"]["nonfinite_row_indices"] == NAN_ROWS, name
    assert checks["stability"]["details"]["rows"] == 40 - len(NAN_ROWS)
    assert checks["counterfactuals"]["details"]["inputs"] == 40 - len(NAN_ROWS)
    assert {m["index"] for m in checks["attributions"]["details"]["maps"]}.isdisjoint(NAN_ROWS)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("NaN or infinite scores for 3 unperturbed input(s) (rows 3, 7, 11)") == 3
