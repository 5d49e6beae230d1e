"""`auditor audit-many`: a fleet of models, one report folder each, an index, and the worst exit code."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from small_samples import FLEET, fleet_file

from auditor.audit.fleet import load_fleet
from auditor.cli import main
from auditor.errors import ConfigError

INDEX = ["index.html", "index.json", "junit.xml", "summary.md"]


def run_main(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code)


def check_index(out: Path, stdout: str, models: tuple[str, ...] = tuple(FLEET)) -> dict:
    """Every model's folder and row, in fleet order (whatever finished first); digits-strict fails."""
    assert stdout.split() == [str(out / name) for name in INDEX]
    index = json.loads((out / "index.json").read_text())
    assert index["exit_code"] == 1
    rows = {row["name"]: row for row in index["models"]}
    assert tuple(rows) == models
    assert [rows[n]["exit_code"] for n in rows] == [int(n == "digits-strict") for n in models]
    assert rows["digits-strict"]["failed_checks"] == ["accuracy"]
    for name in rows:
        report = json.loads((out / name / "report.json").read_text())
        assert report["verdict"] == rows[name]["verdict"]
    suites = ET.parse(out / "junit.xml").getroot()
    assert [s.get("name") for s in suites] == [f"audit {name}" for name in models]
    assert suites.get("failures") == "1" and suites.get("tests") == str(6 * len(models))
    html = (out / "index.html").read_text()
    assert 'href="digits-strict/report.html"' in html and "FAIL" in html
    assert "| digits\\-strict |" in (out / "summary.md").read_text()
    return index


def test_a_fleet_of_the_samples_writes_an_index_and_exits_1(
    tmp_path: Path, digits_dir: Path, tabular_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = run_main("audit-many", str(fleet_file(tmp_path / "fleet")), "--out", str(out), "--trust-model")
    captured = capsys.readouterr()
    assert code == 1, captured.err
    index = check_index(out, captured.out)
    assert index["executor"] == "local" and index["concurrency"] == 1
    assert "auditor: digits-strict: FAIL (exit 1)" in captured.err


@pytest.mark.ray
def test_a_fleet_runs_its_models_at_once_on_ray(
    ray_cluster: object,
    tmp_path: Path,
    digits_dir: Path,
    tabular_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    fleet = str(fleet_file(tmp_path / "fleet"))
    code = run_main("audit-many", fleet, "--out", str(out), "--trust-model", "--executor", "ray", "--quiet")
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert (
        check_index(out, captured.out)["concurrency"] == 2
    )  # two CPUs: two models at a time, one actor each


def test_a_model_that_cannot_be_read_is_exit_2_and_the_rest_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.toml").write_text('[model]\npath = "missing.onnx"\n')
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[models.broken]\nconfig = "broken.toml"\n')
    out = tmp_path / "out"
    assert run_main("audit-many", str(fleet), "--out", str(out), "--quiet") == 2
    row = json.loads((out / "index.json").read_text())["models"][0]
    assert row["verdict"] == "error" and "missing.onnx" in row["error"]
    error = ET.parse(out / "junit.xml").getroot().find("testsuite/testcase/error")
    assert error is not None and "missing.onnx" in (error.get("message") or "")
    assert capsys.readouterr().out.split() == [str(out / name) for name in INDEX]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[models]\n", r"fleet.toml:1: 'models' needs at least one model"),
        ('[models."../up"]\nconfig = "a.toml"\n', r"'models.../up' must be 1 to 100 letters"),
        ("[models.a]\nmodle = 'x.onnx'\n", r"fleet.toml:2: 'models.a.modle' is not a known key"),
        ("[models.a]\n", r"'models.a' needs config or model"),
        ("[defaults]\nconfig = 'nowhere.toml'\n[models.a]\n", r"'defaults.config' points to"),
    ],
)
def test_a_wrong_fleet_file_is_one_line_naming_file_line_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_fleet(path)
