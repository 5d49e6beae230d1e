"""Ctrl-C and SIGTERM stop a command cleanly: exit 130/143, one line, no traceback, --out untouched; the signal
gets past `except Exception` handlers on its way out."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hostile_models import W
from onnx_factory import linear, save

import auditor.cli.inspect
import auditor.report.json_report
from auditor.audit.checks import Figure
from auditor.audit.results import AuditReport, CheckResult
from auditor.cli import main
from auditor.interrupts import Terminated, sigterm_unwinds
from auditor.report.writer import write_report


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        (signal.SIGTERM, 143, "auditor: stopped by SIGTERM; nothing partial was written"),
        (signal.SIGINT, 130, "auditor: interrupted (Ctrl-C); nothing partial was written"),
    ],
)
def test_a_signal_unwinds_past_broad_handlers(tmp_path, monkeypatch, signum, code, line):
    swallowed: list[BaseException] = []

    def slow_describe(blackbox):
        try:
            os.kill(os.getpid(), signum)
            time.sleep(10)
        except Exception as exc:  # what a check's error handling looks like; it must not catch the stop
            swallowed.append(exc)
        return {}

    monkeypatch.setattr(auditor.cli.inspect, "describe", slow_describe)
    path = save(linear(W, [0.5, -0.5]), tmp_path / "m.onnx")
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as stop:
        main(["inspect", str(path), "--device", "cpu", "--trust-model"])
    assert stop.value.code == code and not swallowed
    assert time.perf_counter() - started < 5
    assert [ln for ln in err.getvalue().splitlines() if ln.strip()] == [line]


def test_the_previous_sigterm_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_unwinds():
        assert signal.getsignal(signal.SIGTERM) not in (before, signal.SIG_DFL)
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before


def ray_daemons() -> set[int]:
    """Process ids of Ray's cluster daemons on this machine (a cluster someone started and left running)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"raylet" in cmdline or b"gcs_server" in cmdline:
                found.add(int(entry.name))
    return found


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_sigterm_during_an_audit_leaves_out_untouched(tmp_path, digits_dir, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    daemons = ray_daemons()
    out = tmp_path / "report"
    (out / "images").mkdir(parents=True)
    (out / "report.json").write_text('{"previous": true}')
    (out / "images" / "old.png").write_bytes(b"\x89PNG previous")
    before = snapshot(out)
    command = [
        sys.executable,
        "-m",
        "auditor",
        "audit",
        "--config",
        str(digits_dir / "audit.toml"),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--trust-model",
        "--executor",
        executor,
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    lines = []
    for line in child.stderr:  # wait until the checks are running
        lines.append(line)
        if ": started" in line and "provenance" not in line:
            break
    child.send_signal(signal.SIGTERM)
    started = time.perf_counter()
    stdout, rest = child.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert child.returncode == 143, stderr
    assert time.perf_counter() - started < 30
    assert "Traceback" not in stderr and stdout == ""
    assert stderr.splitlines()[-1] == "auditor: stopped by SIGTERM; nothing partial was written"
    assert all(line.strip() for line in stderr.splitlines())
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    deadline = time.monotonic() + 20  # the cluster the run started is stopped with it
    while ray_daemons() - daemons and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_daemons() - daemons


def _tiny_report() -> AuditReport:
    check = CheckResult(
        name="provenance",
        title="Provenance",
        status="passed",
        figure=None,
        figure_name="",
        threshold=None,
        direction=None,
        reason=None,
        queries=0,
        generator_queries=0,
        seconds=0.0,
        figures=(Figure("picture", "a picture", b"\x89PNG"),),
    )
    return AuditReport("0", 0, "pass", "m.onnx", ("a", "b"), {}, (check,), {}, 0, 0, 0.0, 0.0)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Terminated, OSError])
def test_an_interrupted_write_leaves_no_folder_it_created(tmp_path, monkeypatch, stop):
    def interrupted(report, folder, options):
        raise stop()

    monkeypatch.setattr(auditor.report.json_report, "write", interrupted)
    with pytest.raises(stop):
        write_report(_tiny_report(), tmp_path / "a" / "b" / "out", ["json"])
    assert list(tmp_path.iterdir()) == []  # neither out nor the parents made for it
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(stop):
        write_report(_tiny_report(), empty / "out", ["json"])
    assert empty.is_dir() and list(empty.iterdir()) == []  # a folder that was there before stays
    previous = tmp_path / "previous"
    (previous / "images").mkdir(parents=True)
    (previous / "report.json").write_text('{"previous": true}')
    before = snapshot(previous)
    with pytest.raises(stop):
        write_report(_tiny_report(), previous, ["json"])
    assert snapshot(previous) == before


def test_a_finished_write_keeps_its_folder(tmp_path):
    written = write_report(_tiny_report(), tmp_path / "a" / "out", ["json"])
    assert [p.name for p in written] == ["report.json"] and (
        tmp_path / "a" / "out" / "images" / "picture.png"
    ).is_file()
