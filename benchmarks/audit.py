"""The audit on a ResNet-50-sized model: wall time of each check and the share of it spent outside ONNX Runtime.

    .venv/bin/python benchmarks/audit.py [--folder DIR] [--threads N] [--images 16] [--json out.json]

Builds a ResNet-50-sized classifier (3x224x224 -> 1,000 classes, 25.6 M random weights, ~100 MB,
benchmarks/resnet.py), a random latent-16 image generator, `--images` random images with random
labels and a small audit.toml into --folder (default: a temporary folder, removed at the end), then
runs the audit as `auditor audit --config` does (sandboxed first load, one context, every check,
every report format) through the library, one check at a time, so that each check's ONNX Runtime
seconds (classifier + generator + encoder sessions, from their own counters) can be set against its
wall time. The config is small on purpose: at 0.1-0.4 s a row, the defaults would take hours (the
stability check alone asks for 2,500 rows). Prints one table and the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import resnet  # noqa: E402

from auditor.audit.checks import CHECKS, Context  # noqa: E402
from auditor.audit.config import load_config  # noqa: E402
from auditor.audit.runner import run_audit  # noqa: E402
from auditor.model.blackbox import OpenOptions  # noqa: E402
from auditor.model.sandbox import SandboxLimits  # noqa: E402
from auditor.report.interface import WriteOptions  # noqa: E402
from auditor.report.writer import write_report  # noqa: E402

CONFIG = """\
# Small on purpose: see benchmarks/audit.py.
[model]
path = "resnet50.onnx"

[generator]
path = "image_generator.onnx"

[data]
path = "data.npz"

[run]
seed = 0
device = "cpu"
budget = 40
{threads}
[checks.stability]
samples = 8
repeats = 2

[checks.exemplars]
classes = [0, 1]
per_class = 1

[checks.counterfactuals]
samples = 2
matrix = false

[checks.attributions]
methods = ["occlusion", "lime"]
samples = 1
window = 56
stride = 56
lime_samples = 24
steps = 8
orders = 2
"""


def build(folder: Path, images: int, threads: int | None) -> Path:
    """Write the model, generator, data and config into folder; return the config's path."""
    (folder / "resnet50.onnx").write_bytes(resnet.resnet50().SerializeToString())
    (folder / "image_generator.onnx").write_bytes(resnet.image_generator().SerializeToString())
    rng = np.random.default_rng(0)
    x = rng.random((images, 3, 224, 224), dtype=np.float32)
    np.savez(folder / "data.npz", X=x, y=rng.integers(0, 1000, images))
    config = folder / "audit.toml"
    config.write_text(CONFIG.format(threads=f"threads = {threads}\n" if threads else ""))
    return config


def ort_seconds(context: Context) -> float:
    models = (context.blackbox, context.generator, context.encoder)
    return sum(m.ort_seconds for m in models if m is not None)


def audit(config_path: Path, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    config = load_config(config_path)
    context = Context.open(config, OpenOptions(), SandboxLimits())
    opened = time.perf_counter() - started
    rows, reports = [], []
    for check in CHECKS:
        ort0, wall0 = ort_seconds(context), time.perf_counter()
        report = run_audit(config, context, checks=(check,))
        wall, inside = time.perf_counter() - wall0, ort_seconds(context) - ort0
        result = report.checks[0]
        rows.append(
            {
                "check": check.name,
                "status": result.status,
                "reason": result.reason,
                "queries": result.queries,
                "generator_queries": result.generator_queries,
                "wall_s": wall,
                "ort_s": inside,
                "outside_share": 1 - inside / wall if wall > 0 else 0.0,
            }
        )
        reports.append(report)
    checks = tuple(r.checks[0] for r in reports)
    merged = replace(
        reports[-1],
        checks=checks,
        verdict="fail" if any(c.status == "failed" for c in checks) else "pass",
        queries=sum(r.queries for r in reports),
        generator_queries=sum(r.generator_queries for r in reports),
        seconds=sum(r["wall_s"] for r in rows),
    )
    written = time.perf_counter()
    write_report(merged, out, config.run.formats, WriteOptions(html_mode=config.run.html_mode))
    bb = context.blackbox
    return {
        "open_s": opened,
        "report_s": time.perf_counter() - written,
        "total_s": time.perf_counter() - started,
        "checks": rows,
        "threads": bb.threads,
        "batch_size": bb.batch_size,
        "calibration": None if bb.calibration is None else bb.calibration.source,
        "compared": {}
        if bb.calibration is None
        else {t.threads: t.rows_per_second for t in bb.calibration.compared},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None, help="Keep the files here (default: temporary).")
    parser.add_argument(
        "--threads", type=int, default=None, help="Pin ORT intra-op threads (default: calibrated)."
    )
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        result = audit(build(folder, args.images, args.threads), folder / "audit-out")
    result["load_average"] = [load, os.getloadavg()[0]]
    print(
        f"ResNet-50-sized model, {args.images} images; ONNX Runtime {result['threads']} thread(s), batch "
        f"{result['batch_size']} (calibration: {result['calibration']}, thread comparison rows/s "
        f"{result['compared'] or 'not run'}); load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    print("| check | status | queries (+ generator) | wall s | ORT s | share of wall outside ORT |")
    print("|---|---|---|---|---|---|")
    for row in result["checks"]:
        print(
            f"| {row['check']} | {row['status']} | {row['queries']} (+{row['generator_queries']}) | "
            f"{row['wall_s']:.1f} | {row['ort_s']:.1f} | {row['outside_share']:.3f} |"
        )
    inside = sum(r["ort_s"] for r in result["checks"])
    checks = sum(r["wall_s"] for r in result["checks"])
    print(
        f"whole audit {result['total_s']:.1f} s: opening (sandboxed first load, calibration-free) "
        f"{result['open_s']:.1f} s, checks {checks:.1f} s (ORT {inside:.1f} s, outside share "
        f"{1 - inside / checks:.3f}), report formats {result['report_s']:.1f} s"
    )
    for row in result["checks"]:
        if row["status"] == "not_run":
            print(f"  {row['check']}: not run: {row['reason']}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
