"""Mutated ONNX files for fuzzing: valid seed models, then proto-level edits (declared shapes, dtypes, opsets,
external-data locations, metadata, nodes, initializers, graph IO) and byte-level damage (flips, cuts, splices).

Every mutation takes an explicit numpy Generator, so an example is (seed model, mutation names, integer seed).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import onnx
from hostile_models import generator, nan_rows
from onnx import TensorProto, external_data_helper, helper
from onnx_factory import conv_image, linear, linear_classifier_ml

RNG0 = np.random.default_rng(0)
W4 = RNG0.normal(size=(4, 3)).astype(np.float32)
B3 = RNG0.normal(size=3).astype(np.float32)
WEIGHTS = "weights.bin"


def _external() -> onnx.ModelProto:
    proto = linear(W4, B3)
    tensor = next(t for t in proto.graph.initializer if t.name == "W")
    external_data_helper.set_external_data(tensor, location=WEIGHTS, offset=0, length=W4.nbytes)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    return proto


SEEDS: dict[str, Callable[[], onnx.ModelProto]] = {
    "logits": lambda: linear(W4, B3),
    "softmax_fp16": lambda: linear(W4, B3, head="softmax", dtype=np.float16),
    "sigmoid_fixed_batch": lambda: linear(W4[:, :1], B3[:1], head="sigmoid", batch=1),
    "zipmap": lambda: linear_classifier_ml(W4, B3, zipmap=True, string_labels=("cat", "dog", "owl")),
    "label_probabilities": lambda: linear_classifier_ml(W4, B3, zipmap=False),
    "cnn_nhwc": lambda: conv_image((3, 6, 6), k=4, nhwc=True),
    "external": _external,
    "nan_rows": nan_rows,
    "generator": generator,
}

SHAPE_VALUES: list[int | str] = [0, 1, -1, 2, 3, 7, 2**31, 2**62, "N", "", "batch"]
OPSET_VERSIONS = [0, 1, 6, 9, 13, 17, 21, 23, 99, 2**31 - 1, -1]
IR_VERSIONS = [0, 1, 3, 7, 8, 10, 11, 12, 99, -1]
LOCATIONS = [
    WEIGHTS,
    f"../{WEIGHTS}",
    "/etc/passwd",
    "",
    "a\x00b",
    f"sub/../../{WEIGHTS}",
    "C:\\w.bin",
    f"./{WEIGHTS}",
    f"{WEIGHTS}/",
    "x" * 300,
    "missing.bin",
    ".",
    "..",
    "~/.ssh/id_rsa",
    f"%2e%2e/{WEIGHTS}",
    "\\\\server\\share",
]
OFFSETS = [None, "0", "4", "-4", "abc", "99999999999", "1e3", ""]
METADATA_KEYS = [
    "class_names",
    "classes",
    "labels",
    "names",
    "id2label",
    "auditor.latent_dim",
    "auditor.prior",
    "k",
]
METADATA_VALUES = [
    '["a", "b", "c"]',
    "{0: 'x', 1: 'y', 2: 'z'}",
    '{"0": "a", "1": "b"}',
    "not json",
    "[" * 500,
    "",
    "\x1b[31mred\x07",
    "a,b,c",
    "[1, 2]",
    '{"a": 1}',
    "uniform",
    "-3",
    "1e9",
    "nan",
    "x" * 20000,
    "<script>alert(1)</script>",
    "\udcff",
]
OP_TYPES = [
    "Relu",
    "Softmax",
    "Identity",
    "MatMul",
    "Add",
    "Reshape",
    "Transpose",
    "Sigmoid",
    "Cast",
    "Loop",
    "Nope",
]
DOMAINS = ["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.vendor.secret"]


def _pick(rng: np.random.Generator, items: list):  # type: ignore[no-untyped-def]
    return items[int(rng.integers(len(items)))]


def _value_infos(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    g = proto.graph
    return [*g.input, *g.output, *g.value_info]


def mutate_shape(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    infos = [v for v in _value_infos(proto) if v.type.HasField("tensor_type")]
    if not infos:
        return
    tensor_type = _pick(rng, infos).type.tensor_type
    action = int(rng.integers(4))
    if action == 0:
        tensor_type.ClearField("shape")
        return
    dims = tensor_type.shape.dim
    if action == 1 or not dims:
        dims.add()
    elif action == 2:
        del dims[int(rng.integers(len(dims)))]
        return
    dim = dims[int(rng.integers(len(dims)))]
    value = _pick(rng, SHAPE_VALUES)
    if isinstance(value, str):
        dim.dim_param = value
    else:
        dim.dim_value = value


def mutate_dtype(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    dtype = int(rng.integers(0, 27))
    if rng.random() < 0.7:
        infos = [v for v in _value_infos(proto) if v.type.HasField("tensor_type")]
        if infos:
            _pick(rng, infos).type.tensor_type.elem_type = dtype
    elif proto.graph.initializer:
        _pick(rng, list(proto.graph.initializer)).data_type = dtype


def mutate_opset(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    action = int(rng.integers(4))
    if action == 0:
        proto.ir_version = _pick(rng, IR_VERSIONS)
    elif action == 1 and proto.opset_import:
        del proto.opset_import[int(rng.integers(len(proto.opset_import)))]
    elif action == 2:
        proto.opset_import.append(helper.make_opsetid(_pick(rng, DOMAINS), _pick(rng, OPSET_VERSIONS)))
    elif proto.opset_import:
        _pick(rng, list(proto.opset_import)).version = _pick(rng, OPSET_VERSIONS)


def mutate_external(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    tensors = list(proto.graph.initializer)
    if not tensors:
        return
    tensor = _pick(rng, tensors)
    entries = {"location": _pick(rng, LOCATIONS)}
    for key in ("offset", "length"):
        value = _pick(rng, OFFSETS)
        if value is not None:
            entries[key] = value
    del tensor.external_data[:]
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = TensorProto.EXTERNAL
    if rng.random() < 0.7:
        tensor.ClearField("raw_data")


def mutate_metadata(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    action = int(rng.integers(3))
    if action == 0:
        entry = proto.metadata_props.add()
        entry.key, entry.value = _pick(rng, METADATA_KEYS), _pick(rng, METADATA_VALUES)
    elif action == 1:
        proto.doc_string = _pick(rng, METADATA_VALUES)
        proto.graph.doc_string = _pick(rng, METADATA_VALUES)
    else:
        proto.producer_name = _pick(rng, METADATA_VALUES)
        proto.graph.name = _pick(rng, METADATA_VALUES)[:100]


def mutate_node(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    nodes = proto.graph.node
    if not nodes:
        return
    index = int(rng.integers(len(nodes)))
    node = nodes[index]
    action = int(rng.integers(6))
    if action == 0:
        node.op_type = _pick(rng, OP_TYPES)
    elif action == 1:
        node.domain = _pick(rng, DOMAINS)
    elif action == 2:
        del nodes[index]
    elif action == 3:
        nodes.append(copy.deepcopy(node))
    elif action == 4 and node.input:
        node.input[int(rng.integers(len(node.input)))] = _pick(rng, ["x", "W", "", "nowhere", node.output[0]])
    else:
        node.attribute.append(
            helper.make_attribute(_pick(rng, ["axis", "perm", "to", "keepdims"]), int(rng.integers(-9, 9)))
        )


def mutate_initializer(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    tensors = proto.graph.initializer
    if not tensors:
        return
    index = int(rng.integers(len(tensors)))
    tensor = tensors[index]
    action = int(rng.integers(4))
    if action == 0:
        del tensor.dims[:]
        tensor.dims.extend(
            int(d) for d in rng.choice([0, 1, 2, 3, 5, 2**20, 2**40], size=int(rng.integers(0, 4)))
        )
    elif action == 1:
        tensor.raw_data = tensor.raw_data[: int(rng.integers(len(tensor.raw_data) + 1))]
    elif action == 2:
        del tensors[index]
    else:
        tensor.float_data.extend(rng.normal(size=int(rng.integers(1, 9))).tolist())


def mutate_io(proto: onnx.ModelProto, rng: np.random.Generator) -> None:
    g = proto.graph
    action = int(rng.integers(4))
    if action == 0 and g.output:
        del g.output[int(rng.integers(len(g.output)))]
    elif action == 1:
        g.output.append(helper.make_tensor_value_info("nowhere", TensorProto.FLOAT, ["N", 3]))
    elif action == 2 and g.input:
        g.input.append(copy.deepcopy(g.input[0]))
    elif g.input:
        g.input[0].name = _pick(rng, ["", "x2", "W", "input.1"])


PROTO_MUTATIONS: dict[str, Callable[[onnx.ModelProto, np.random.Generator], None]] = {
    "shape": mutate_shape,
    "dtype": mutate_dtype,
    "opset": mutate_opset,
    "external": mutate_external,
    "metadata": mutate_metadata,
    "node": mutate_node,
    "initializer": mutate_initializer,
    "io": mutate_io,
}


def flip(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(0, len(out), size=int(rng.integers(1, 9))):
        out[pos] ^= int(rng.integers(1, 256))
    return bytes(out)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def splice(data: bytes, rng: np.random.Generator) -> bytes:
    a, b, c = sorted(int(v) for v in rng.integers(0, len(data), size=3))
    return data[:a] + data[b:c] + data[a:]


def insert(data: bytes, rng: np.random.Generator) -> bytes:
    pos = int(rng.integers(0, len(data) + 1))
    return data[:pos] + rng.bytes(int(rng.integers(1, 33))) + data[pos:]


BYTE_MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "flip": flip,
    "truncate": truncate,
    "splice": splice,
    "insert": insert,
}


def write_mutant(folder: Path, seed_model: str, proto_ops: list[str], byte_op: str | None, seed: int) -> Path:
    """Build the seed model, apply the mutations, write it as folder/model.onnx beside a weights.bin."""
    rng = np.random.default_rng(seed)
    proto = SEEDS[seed_model]()
    for name in proto_ops:
        try:
            PROTO_MUTATIONS[name](proto, rng)
        except (
            ValueError,
            TypeError,
        ):  # protobuf refuses the edit itself (a lone surrogate, an out-of-range int)
            continue
    data = proto.SerializeToString()
    if byte_op is not None and data:
        data = BYTE_MUTATIONS[byte_op](data, rng)
    (folder / WEIGHTS).write_bytes(W4.tobytes())
    path = folder / "model.onnx"
    path.write_bytes(data)
    return path


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def run_cli_in_process(folder: Path, *args: str) -> tuple[int, str, str]:
    """`auditor ARGS` in this process, from inside `folder`: exit code, stdout, stderr."""
    from auditor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(folder), redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as stop:
            return int(stop.code or 0), out.getvalue(), err.getvalue()
    raise AssertionError("auditor.cli.main returned without exiting")


def run_inspect_in_process(path: Path, *extra: str) -> tuple[int, str, str]:
    """`auditor inspect --json` on a mutant, from inside its folder."""
    return run_cli_in_process(
        path.parent, "inspect", path.name, "--json", "--device", "cpu", "--call-timeout", "20", *extra
    )


def assert_clean_outcome(code: int, out: str, err: str) -> None:
    """Exit 0, 1 or 2; no traceback, no internal error; 0 prints JSON, 2 prints one error line."""
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err and "internal error" not in err, err
    if code == 0:
        assert json.loads(out)["n_classes"] >= 1
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("auditor: error: "), err
