"""Discrete inputs: a model over 2,048 int32 byte values is perturbed by replacement within 0..255, never by noise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model, save

from auditor.audit import checks as C
from auditor.audit.checks import stability
from auditor.audit.config import load_config
from auditor.audit.runner import plan_units, run_check
from auditor.errors import ArgumentError
from auditor.value_sets import ValueSet

BYTES = 2048
BINS = 4
W = np.array([[4.0, 0.0, -4.0], [0.0, 2.0, 0.0], [-2.0, 2.0, 2.0], [-4.0, 0.0, 4.0]], np.float32)


def byte_histogram() -> object:
    """bytes int32 (N, 2048) -> the share of bytes in each quarter 0-63 .. 192-255 -> 3 logits (text, media, zip)."""
    nodes = [
        helper.make_node("Div", ["bytes", "width"], ["quarter"]),  # integer division: the byte's quarter
        helper.make_node("Cast", ["quarter"], ["bin"], to=TensorProto.INT64),
        helper.make_node("OneHot", ["bin", "depth", "onoff"], ["onehot"], axis=-1),
        helper.make_node("ReduceMean", ["onehot", "axis"], ["histogram"], keepdims=0),
        helper.make_node("MatMul", ["histogram", "W"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(256 // BINS, np.int32), "width"),
        numpy_helper.from_array(np.array([BINS], np.int64), "depth"),
        numpy_helper.from_array(np.array([0.0, 1.0], np.float32), "onoff"),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
        numpy_helper.from_array(W * 10, "W"),
    ]
    return model(
        nodes,
        [helper.make_tensor_value_info("bytes", TensorProto.INT32, ["N", BYTES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        inits,
        opset=[helper.make_opsetid("", 18)],
    )


def byte_rows(n: int, seed: int = 0) -> np.ndarray:
    """Files whose bytes mix the four quarters in random proportions (so predictions vary)."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(BINS), n)
    quarter = np.stack([rng.choice(BINS, BYTES, p=p) for p in shares])
    rows = quarter * 64 + rng.integers(0, 64, (n, BYTES))
    rows[0, :2] = (0, 255)  # the data spans the whole byte range
    return rows


def test_the_value_set_comes_from_the_dtype_or_the_data() -> None:
    assert ValueSet.infer("uint8") == ValueSet(True, 0.0, 255.0)
    assert ValueSet.infer("int32", byte_rows(3).astype(np.float32)) == ValueSet(True, 0.0, 255.0)
    assert ValueSet.infer("float32", declared_range=(0, 255), discrete=True).size == 256
    assert not ValueSet.infer("float32", np.array([[0.5, 2.0]])).discrete
    with pytest.raises(ArgumentError, match="declare it"):
        ValueSet.infer("int64")


def test_replacement_stays_in_the_set_and_changes_what_it_picks() -> None:
    rows = byte_rows(60).astype(np.float32)
    values = ValueSet.infer("int32", rows)
    out = values.perturb(rows, 0.05, np.random.default_rng(7))
    again = values.perturb(rows, 0.05, np.random.default_rng(7))
    np.testing.assert_array_equal(out, again)  # same seed, same numbers
    assert np.array_equal(out, np.rint(out)) and out.min() >= 0 and out.max() <= 255
    changed = (out != rows).mean()
    assert changed == pytest.approx(0.05, abs=0.004)  # 122,880 elements: binomial sd 0.0006
    projected = values.project(np.array([[-3.2, 17.6, 300.0]]))
    assert projected.tolist() == [[0.0, 18.0, 255.0]]


def test_stability_perturbs_byte_models_within_their_values(tmp_path: Path) -> None:
    save(byte_histogram(), tmp_path / "bytes.onnx")
    x = byte_rows(40)
    config_path = tmp_path / "audit.toml"
    config_path.write_text(
        '[model]\npath = "bytes.onnx"\n[data]\npath = "d.npz"\n[run]\ndevice = "cpu"\n'
        "[checks.stability]\nsamples = 40\nrepeats = 3\nnoise = 0.5\n",
        encoding="utf-8",
    )
    np.savez(tmp_path / "d.npz", X=x)
    ctx = C.Context.open(load_config(config_path))
    settings = ctx.config.checks.stability
    part = stability.run(ctx, settings, plan_units(C.STABILITY, ctx, settings, 0)[0])
    assert len(part.example_noisy)  # half the bytes replaced: some predictions flip
    noisy = part.example_noisy
    assert np.array_equal(noisy, np.rint(noisy)) and noisy.min() >= 0 and noisy.max() <= 255
    result = run_check(C.STABILITY, ctx)
    assert result.details["noise"] == {
        "kind": "replacement",
        "relative_to": "value set",
        "fraction": 0.5,
        "values": {"discrete": True, "low": 0.0, "high": 255.0},
    }
    quiet = dataclasses.replace(settings, noise=0.001)  # ~2 of 2,048 bytes: a histogram barely moves
    calm = C.Context.open(
        dataclasses.replace(ctx.config, checks=dataclasses.replace(ctx.config.checks, stability=quiet))
    )
    assert run_check(C.STABILITY, calm).figure < result.figure
