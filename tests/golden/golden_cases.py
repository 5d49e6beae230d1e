"""The CLI runs whose JSON outputs are kept as golden files (behaviour kept across refactors).

`python tests/golden/golden_cases.py` rewrites the files from the current code; `test_golden.py` compares.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DIGITS = "sample_models/digits"
TABULAR = "sample_models/tabular"
COMMON = ["--threads", "1", "--batch-size", "4096", "--quiet"]

# name -> (arguments after `auditor`, the JSON file written into --out)
CASES: dict[str, tuple[list[str], str]] = {
    "audit_digits": (["audit", "--config", f"{DIGITS}/audit.toml"], "report.json"),
    "audit_tabular": (["audit", "--config", f"{TABULAR}/audit.toml"], "report.json"),
    "exemplars_digits": (
        [
            "exemplars",
            f"{DIGITS}/classifier.onnx",
            "--generator",
            f"{DIGITS}/generator.onnx",
            "--classes",
            "0,3",
            "--budget",
            "800",
        ],
        "exemplars.json",
    ),
    "exemplars_tabular_box": (
        ["exemplars", f"{TABULAR}/classifier.onnx", "--data", f"{TABULAR}/samples.npz", "--budget", "600"],
        "exemplars.json",
    ),
    "counterfactual_digits": (
        [
            "counterfactual",
            f"{DIGITS}/classifier.onnx",
            "--input",
            f"{DIGITS}/samples.npz",
            "--index",
            "0,1",
            "--generator",
            f"{DIGITS}/generator.onnx",
            "--encoder",
            f"{DIGITS}/encoder.onnx",
            "--budget",
            "600",
        ],
        "counterfactuals.json",
    ),
    "counterfactual_tabular": (
        [
            "counterfactual",
            f"{TABULAR}/classifier.onnx",
            "--input",
            f"{TABULAR}/samples.npz",
            "--index",
            "0,2",
            "--budget",
            "600",
        ],
        "counterfactuals.json",
    ),
    "attribute_occlusion": (
        ["attribute", f"{DIGITS}/classifier.onnx", "--input", f"{DIGITS}/samples.npz", "--index", "3"],
        "attribution.json",
    ),
    "attribute_lime": (
        [
            "attribute",
            f"{DIGITS}/classifier.onnx",
            "--input",
            f"{DIGITS}/samples.npz",
            "--method",
            "lime",
            "--samples",
            "300",
        ],
        "attribution.json",
    ),
    "attribute_counterfactual": (
        [
            "attribute",
            f"{TABULAR}/classifier.onnx",
            "--input",
            f"{TABULAR}/samples.npz",
            "--method",
            "counterfactual",
            "--budget",
            "400",
        ],
        "attribution.json",
    ),
}

# Keys whose values change from run to run or machine to machine (timings, versions, paths).
VOLATILE = {
    "seconds",
    "ort_seconds",
    "wall_seconds",
    "onnxruntime_version",
    "versions",
    "tool_version",
    "created",
    "date",
    "out",
    "hostname",
    "threads",
    "batch_size",
    "device_info",
    "calibration",
    "estimated_seconds",  # the audit plan's estimates, from timings measured on this machine
    "full_size_seconds",
    "planning_seconds",
    "median_seconds",  # a check's timing per unit or per input
    "cost",
}


def run(name: str, out: Path) -> dict:
    """Run one case through the installed CLI and return its JSON output."""
    args, filename = CASES[name]
    command = [sys.executable, "-m", "auditor", *args, "--out", str(out), *COMMON]
    subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True)
    return json.loads((out / filename).read_text())


def strip(value: object) -> object:
    """The JSON without volatile keys."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def differences(old: object, new: object, path: str = "$", rel: float = 1e-6) -> list[str]:
    """Where `new` loses or changes a figure of `old` (added keys are allowed)."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{path}: was an object"]
        found = []
        for key, value in old.items():
            if key not in new:
                found.append(f"{path}.{key}: removed")
            else:
                found += differences(value, new[key], f"{path}.{key}", rel)
        return found
    if isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            return [f"{path}: list changed length or type"]
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{path}[{i}]", rel)]
    if isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool):
        if math.isnan(old) and math.isnan(new):
            return []
        if math.isclose(old, new, rel_tol=rel, abs_tol=1e-9):
            return []
        return [f"{path}: {old!r} -> {new!r}"]
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


if __name__ == "__main__":
    import tempfile

    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            data = strip(run(case, Path(tmp) / "out"))
        (HERE / f"{case}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print("wrote", case)
