"""First contact in a child process: a model that crashes, exhausts memory or hangs there is refused with one
line naming the file; a good model passes at the cost of about one load; the child sees no secrets."""

from __future__ import annotations

import hashlib
import io
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hostile_models import allocation_bomb, endless_loop, generator
from onnx import TensorProto, helper
from onnx_factory import linear, model, save

import auditor.model.vetting
from auditor.audit.checks import Context
from auditor.audit.config import quick_config
from auditor.cli import main
from auditor.errors import ConventionError, ModelError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.loading import GiB
from auditor.model.sandbox import (
    FirstContact,
    SandboxLimits,
    _bare_environment,
    _death,
    _limits,
    check_in_child,
    confirm_unchanged,
    fingerprint,
)

CPU = OpenOptions(device="cpu")
W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
B = np.zeros(3, dtype=np.float32)


def run_cli(*args: str) -> tuple[int, str, str]:
    """`auditor ARGS` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as stop:
        main([*args])
    return int(stop.value.code or 0), out.getvalue(), err.getvalue()


def assert_one_line(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_good_model_passes_and_reports_its_cost(tmp_path):
    path = save(linear(W, B), tmp_path / "ok.onnx")
    contact = check_in_child(path, "classifier", CPU)
    assert isinstance(contact, FirstContact)
    assert 0 < contact.seconds < 30
    assert (
        10 * 2**20 < contact.peak_bytes < 4 * GiB
    )  # a real interpreter with ONNX Runtime ran, under the cap


def test_generator_and_encoder_kinds(tmp_path):
    path = save(generator(latent=4, features=3), tmp_path / "gen.onnx")
    check_in_child(path, "generator", CPU)
    check_in_child(path, "encoder", CPU)
    hanging = save(endless_loop(output="x_out", k=3), tmp_path / "slow_gen.onnx")
    with pytest.raises(ModelError, match=r"slow_gen\.onnx: loading did not finish within 2 s"):
        check_in_child(hanging, "generator", CPU, SandboxLimits(timeout=2))


def _truncated(tmp_path: Path) -> Path:
    data = linear(W, B).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    return path


def _custom_domain(tmp_path: Path) -> Path:
    proto = model(
        [helper.make_node("Exfiltrate", ["x"], ["y"], domain="com.vendor")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        opset=[helper.make_opsetid("", 17), helper.make_opsetid("com.vendor", 1)],
    )
    return save(proto, tmp_path / "custom.onnx")


def _two_score_outputs(tmp_path: Path) -> Path:
    proto = linear(W, B, output_name="a")
    proto.graph.node.append(helper.make_node("Neg", ["z"], ["b"]))
    proto.graph.output.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3]))
    return save(proto, tmp_path / "two.onnx")


@pytest.mark.parametrize(
    "build", [_truncated, _custom_domain, _two_score_outputs, lambda p: p / "missing.onnx"]
)
def test_child_raises_what_the_load_raises(tmp_path, build):
    path = build(tmp_path)
    with pytest.raises((ModelError, ConventionError)) as direct:
        BlackBox.open(path, CPU)
    with pytest.raises(type(direct.value)) as child:
        check_in_child(path, "classifier", CPU)
    assert str(child.value) == str(direct.value)


COMMANDS = [("inspect",), ("audit", "--out", "report")]


@pytest.mark.parametrize("command", COMMANDS, ids=["inspect", "audit"])
def test_allocation_bomb_is_refused_within_the_limits(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    path = save(allocation_bomb(copies=6), tmp_path / "bomb.onnx")
    started = time.perf_counter()
    code, out, err = run_cli(
        *command, path.name, "--device", "cpu", "--sandbox-memory", "1", "--load-timeout", "60"
    )
    assert code == 2 and out == ""
    assert_one_line(err, "bomb.onnx", "1 GiB of memory", "--sandbox-memory")
    assert time.perf_counter() - started < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.onnx"]  # no report folder


@pytest.mark.parametrize("command", COMMANDS, ids=["inspect", "audit"])
def test_endless_loop_is_refused_within_the_load_timeout(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    path = save(endless_loop(), tmp_path / "loop.onnx")
    started = time.perf_counter()
    code, out, err = run_cli(*command, path.name, "--device", "cpu", "--load-timeout", "2")
    elapsed = time.perf_counter() - started
    assert code == 2 and out == ""
    assert_one_line(err, "loop.onnx", "did not finish within 2 s", "--load-timeout")
    assert 2 <= elapsed < 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.onnx"]


def test_trust_model_skips_the_child(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(auditor.model.vetting, "check_in_child", lambda path, *a: calls.append(str(path)))
    path = save(linear(W, B), tmp_path / "ok.onnx")
    assert run_cli("inspect", str(path), "--device", "cpu", "--trust-model")[0] == 0
    assert calls == []
    assert run_cli("inspect", str(path), "--device", "cpu")[0] == 0
    assert calls == [str(path)]


def test_child_environment_holds_no_secrets(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_secret_value")
    env = _bare_environment()
    assert "GITHUB_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env and "HOME" not in env
    assert not any("secret_value" in value for value in env.values())
    assert set(env) <= {
        "PATH",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING",
        "LC_ALL",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "MALLOC_ARENA_MAX",
    }


def test_child_limits_cap_memory_and_forbid_files(tmp_path):
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_CORE)[0])"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, preexec_fn=_limits(3 * GiB)
    )
    assert done.stdout.split() == [str(3 * GiB), "0"]
    write = "fh = open('leak.txt', 'w'); fh.write('secret' * 100); fh.flush()"
    done = subprocess.run(
        [sys.executable, "-c", write], capture_output=True, cwd=tmp_path, preexec_fn=_limits(3 * GiB)
    )
    assert done.returncode == 1 and b"File too large" in done.stderr
    assert (tmp_path / "leak.txt").stat().st_size == 0  # the file can be created, but not a byte written


@pytest.mark.parametrize(
    ("code", "stderr", "fragment"),
    [
        (-signal.SIGSEGV, b"", "crashed while loading the model (SIGSEGV)"),
        (-signal.SIGABRT, b"", "crashed while loading the model (SIGABRT)"),
        (-signal.SIGKILL, b"", "killed (SIGKILL), most likely out of memory"),
        (1, b"terminate called after throwing an instance of 'std::bad_alloc'\n", "2 GiB of memory"),
        (
            1,
            b"Fatal Python error: \x1b[31mSegmentation\n",
            "exit code 1 (Fatal Python error: ?[31mSegmentation)",
        ),
    ],
)
def test_a_child_that_dies_without_a_reply_is_described(code, stderr, fragment):
    assert fragment in _death(code, stderr, SandboxLimits(memory_bytes=2 * GiB))


def test_a_model_swapped_after_the_sandbox_is_refused(tmp_path):
    path = save(linear(W, B), tmp_path / "m.onnx")
    contact = check_in_child(path, "classifier", CPU)
    assert contact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and contact.external == ()
    save(linear(2 * W, B), path)  # replaced between the sandboxed load and this process's load
    blackbox = BlackBox.open(path, CPU)
    with pytest.raises(ModelError, match=r"m\.onnx: the model file changed while it was being checked"):
        confirm_unchanged(contact, blackbox.model)
    confirm_unchanged(replace(contact, sha256=blackbox.model.sha256), blackbox.model)  # the same bytes pass
    confirm_unchanged(None, blackbox.model)  # --trust-model: nothing to compare


def test_a_swapped_external_data_file_is_refused(tmp_path):
    path = save(linear(W, B), tmp_path / "m.onnx")
    blackbox = BlackBox.open(path, CPU)
    sha256, _ = fingerprint(blackbox.model)
    contact = FirstContact(0.0, 0, sha256, (("weights.bin", "0" * 64),))
    with pytest.raises(
        ModelError, match="an external data file of the model changed while it was being checked"
    ):
        confirm_unchanged(contact, blackbox.model)


STALE = FirstContact(0.0, 0, "0" * 64)


@pytest.mark.parametrize("command", COMMANDS, ids=["inspect", "audit"])
def test_commands_refuse_a_model_that_differs_from_the_one_checked(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(auditor.model.vetting, "check_in_child", lambda *a: STALE)
    path = save(linear(W, B), tmp_path / "m.onnx")
    code, out, err = run_cli(*command, path.name, "--device", "cpu")
    assert code == 2 and out == ""
    assert_one_line(err, "m.onnx: the model file changed while it was being checked")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_the_audit_compares_the_generator_too(tmp_path, monkeypatch):
    model = save(linear(W, B), tmp_path / "m.onnx")
    gen = save(generator(latent=2, features=4), tmp_path / "g.onnx")

    def vet(path, kind, *rest):
        return STALE if kind == "generator" else check_in_child(path, kind, *rest)

    monkeypatch.setattr(auditor.model.vetting, "check_in_child", vet)
    with pytest.raises(ModelError, match=r"g\.onnx: the model file changed while it was being checked"):
        Context.open(quick_config(model, gen), OpenOptions(device="cpu"), SandboxLimits())
