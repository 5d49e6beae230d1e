"""`auditor audit` and `auditor validate-config` through the real CLI: exit codes 0/1/2 and where files go."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from workspace import build

from auditor.cli import main


def auditor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def run_main(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code)


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def test_exit_0_when_every_threshold_is_met(tmp_path: Path) -> None:
    """The default path, with each model first loaded in the sandbox."""
    config = build(tmp_path / "ws")
    before = files_under(tmp_path)
    done = auditor("audit", "--config", str(config), "--out", "out", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    names = ("report.html", "junit.xml", "report.json", "report.sarif", "summary.md")
    assert done.stdout.split() == [
        str(Path("out") / n) for n in names
    ]  # stdout carries only the written files
    created = files_under(tmp_path) - before
    assert all(p.parts[0] == "out" for p in created)  # nothing written outside --out
    assert not [p for p in out.iterdir() if p.name.startswith(".auditor-tmp")]
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert doc["verdict"] == "pass" and (out / "images" / "accuracy-reliability.png").is_file()


def test_exit_1_when_a_threshold_is_missed(tmp_path: Path) -> None:
    config = build(tmp_path / "ws", wrong_labels=12)  # accuracy 48/60 = 0.8 < 0.9
    done = auditor("audit", "--config", str(config), "--out", "out", "--trust-model", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "accuracy 0.8 is not >= 0.9" in done.stderr and "verdict FAIL" in done.stderr
    assert "auditor: stability: done" in done.stderr  # plain progress lines when stderr is not a terminal
    assert json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["verdict"] == "fail"
    # report-only runs exit 0 with the same verdict in the report
    o2 = str(tmp_path / "o2")
    assert (
        run_main(
            "audit", "--config", str(config), "--out", o2, "--quiet", "--trust-model", "--fail-on", "never"
        )
        == 0
    )
    assert json.loads((tmp_path / "o2" / "report.json").read_text(encoding="utf-8"))["verdict"] == "fail"


def test_exit_2_on_a_config_error_naming_file_line_and_key(tmp_path: Path) -> None:
    config = build(tmp_path / "ws")
    config.write_text(config.read_text(encoding="utf-8") + "max_flips = 3\n", encoding="utf-8")
    lines = config.read_text(encoding="utf-8").splitlines()
    done = auditor("audit", "--config", str(config), "--out", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"auditor: error: {config}:{len(lines)}: 'checks.attributions.max_flips' is not a known key "
        "(known: enabled, methods, samples, baseline, window, stride, lime_samples, steps, orders, min_faithful, removal, timeout)"
    )
    assert not (tmp_path / "out").exists()


def test_exit_2_on_a_missing_model_in_the_quick_form(tmp_path: Path) -> None:
    done = auditor("audit", "missing.onnx", "--out", "out", cwd=tmp_path)
    assert done.returncode == 2 and "missing.onnx" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_quick_form_runs_the_default_checks(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    build(ws)
    out = tmp_path / "out"
    code = run_main(
        "audit",
        str(ws / "model.onnx"),
        "--data",
        str(ws / "data.npz"),
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
        "--budget",
        "40",
        "--format",
        "json",
        "--trust-model",
    )
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    # the quick form sets no accuracy threshold: the figure is reported, not passed
    assert statuses["accuracy"] == "reported" and statuses["stability"] != "not_run"
    assert doc["plan"]["time_budget"] == 600 and len(doc["plan"]["checks"]) == len(doc["checks"])
    # an image model without a generator: exemplars are searched inside the data's box
    exemplars = next(c for c in doc["checks"] if c["name"] == "exemplars")
    assert exemplars["status"] != "not_run" and exemplars["details"]["space"] == "input"
    assert code in (0, 1) and sorted(p.name for p in out.iterdir()) == ["images", "report.json"]


def test_flags_override_the_config(tmp_path: Path) -> None:
    config = build(tmp_path / "ws")
    out = tmp_path / "out"
    run_main(
        "audit",
        "--config",
        str(config),
        "--out",
        str(out),
        "--quiet",
        "--trust-model",
        "--seed",
        "4",
        "--format",
        "json,junit",
    )
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert doc["seed"] == 4 and doc["config"]["run"]["seed"] == 4
    assert sorted(p.name for p in out.iterdir()) == ["images", "junit.xml", "report.json"]


def test_validate_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = build(tmp_path / "ws")
    assert run_main("validate-config", str(config)) == 0
    assert "valid" in capsys.readouterr().out
    config.write_text(config.read_text(encoding="utf-8").replace("seed = 0", "seed = 0.5"), encoding="utf-8")
    assert run_main("validate-config", str(config)) == 2
    line = config.read_text(encoding="utf-8").splitlines().index("seed = 0.5") + 1
    assert f"{config}:{line}: 'run.seed' must be an integer" in capsys.readouterr().err


def test_model_and_config_together_is_a_usage_error(tmp_path: Path) -> None:
    config = build(tmp_path / "ws")
    assert run_main("audit", str(tmp_path / "ws" / "model.onnx"), "--config", str(config)) == 2
    assert run_main("audit") == 2
