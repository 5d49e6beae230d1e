"""Hostile and broken files are refused with one line and exit code 2, reading nothing outside their folder."""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, external_data_helper, helper
from onnx_factory import linear, model, save

from auditor.errors import ModelError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.loading import Limits, load_model

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
B = np.zeros(3, dtype=np.float32)


def run_inspect(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "inspect", str(path), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_refused(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and fragment in lines[0]
    assert result.stdout == ""


def external_model(folder: Path, location: str) -> Path:
    """A linear model whose weight W is stored as external data at `location`."""
    proto = linear(W, B)
    tensor = next(t for t in proto.graph.initializer if t.name == "W")
    external_data_helper.set_external_data(tensor, location=location, offset=0, length=W.nbytes)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    return save(proto, folder / "model.onnx")


def test_truncated_file(tmp_path):
    data = linear(W, B).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert_refused(run_inspect(path), "cut.onnx")


def test_non_onnx_bytes(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"PK\x03\x04 this is a zip file, not a model" * 10)
    assert_refused(run_inspect(path), "junk.onnx")


def test_missing_file(tmp_path):
    assert_refused(run_inspect(tmp_path / "nope.onnx"), "nope.onnx")


@pytest.mark.parametrize(
    ("location", "fragment"),
    [("../secret.bin", "'..'"), ("sub/../../secret.bin", "'..'"), ("ABSOLUTE", "absolute")],
)
def test_external_data_outside_the_folder(tmp_path, location, fragment):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(W.tobytes())
    folder = tmp_path / "vendor"
    folder.mkdir()
    location = str(secret) if location == "ABSOLUTE" else location
    assert_refused(run_inspect(external_model(folder, location)), fragment)


def test_external_data_symlink_escape(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(W.tobytes())
    folder = tmp_path / "vendor"
    folder.mkdir()
    (folder / "weights.bin").symlink_to(secret)
    assert_refused(run_inspect(external_model(folder, "weights.bin")), "symbolic link")


def test_external_data_hard_link(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(W.tobytes())
    folder = tmp_path / "vendor"
    folder.mkdir()
    os.link(secret, folder / "weights.bin")
    assert_refused(run_inspect(external_model(folder, "weights.bin")), "hard link")


def test_external_data_inside_folder_is_inlined(tmp_path):
    (tmp_path / "weights.bin").write_bytes(W.tobytes())
    path = external_model(tmp_path, "weights.bin")
    loaded = load_model(path)
    assert loaded.external_files[0].location == "weights.bin"
    bb = BlackBox.from_loaded(loaded, OpenOptions(device="cpu"))
    x = np.ones((1, 4), np.float32)
    z = x @ W + B
    np.testing.assert_allclose(bb.predict(x), np.exp(z) / np.exp(z).sum(), atol=1e-6)


def test_external_data_shorter_than_tensor(tmp_path):
    (tmp_path / "weights.bin").write_bytes(W.tobytes()[:10])
    with pytest.raises(ModelError, match="shorter"):
        load_model(external_model(tmp_path, "weights.bin"))


def test_refused_locations_are_never_opened(tmp_path, monkeypatch):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(W.tobytes())
    folder = tmp_path / "vendor"
    folder.mkdir()
    path = external_model(folder, "../secret.bin")
    opened: list[str] = []
    real_open, real_io_open = builtins.open, io.open

    def spy(file, *args, **kwargs):
        opened.append(os.path.realpath(file) if isinstance(file, str | os.PathLike) else str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    with pytest.raises(ModelError):
        load_model(path)
    monkeypatch.setattr(builtins, "open", real_open)
    monkeypatch.setattr(io, "open", real_io_open)
    assert all(p.startswith(os.path.realpath(folder)) for p in opened if p.startswith("/")), opened


def test_unknown_custom_domain_op(tmp_path):
    proto = model(
        [helper.make_node("Exfiltrate", ["x"], ["y"], domain="com.vendor.secret")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        opset=[helper.make_opsetid("", 17), helper.make_opsetid("com.vendor.secret", 1)],
    )
    result = run_inspect(save(proto, tmp_path / "custom.onnx"))
    assert_refused(result, "'Exfiltrate'")
    assert "com.vendor.secret" in result.stderr


def test_huge_declared_input(tmp_path):
    proto = model(
        [helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 100_000, 100_000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
    )
    assert_refused(run_inspect(save(proto, tmp_path / "huge.onnx")), "row limit")


def test_size_cap(tmp_path):
    path = save(linear(W, B), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="size limit"):
        load_model(path, Limits(max_file_bytes=100))


def test_checker_failure_is_one_line(tmp_path):
    proto = linear(W, B)
    proto.graph.node[0].input[1] = "missing_tensor"
    path = tmp_path / "broken.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_valid_model_passes_inspect(tmp_path):
    proto = linear(W, B, metadata={"note": "<script>alert(1)</script>\x1b[2J"})
    onnx.checker.check_model(proto)
    result = run_inspect(save(proto, tmp_path / "ok.onnx"))
    assert result.returncode == 0, result.stderr
    assert "logits" in result.stdout and "\x1b" not in result.stdout
