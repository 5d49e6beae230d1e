"""Safe loading of untrusted ONNX files, before ONNX Runtime sees them.

Size cap; parse without external data; every tensor (initializers, sparse initializers,
`Constant` attributes, subgraphs, functions) checked for external data, which must live inside
the model's own folder (no absolute paths, no `..`, no symlinks or hard links, in bounds);
operator domains checked against what ONNX Runtime runs; `onnx.checker`. External data is read by
us and inlined, so ONNX Runtime gets bytes and never opens a file itself.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError, Message
from onnx import GraphProto, ModelProto, TensorProto

from auditor.errors import ModelError

GiB = 2**30
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"})
PROTOBUF_LIMIT = 2 * GiB - 1


@dataclass(frozen=True)
class Limits:
    """Resource caps applied before a model runs; all configurable."""

    max_file_bytes: int = 4 * GiB
    max_initializer_bytes: int = 4 * GiB
    max_row_bytes: int = 256 * 2**20


@dataclass(frozen=True)
class ExternalFile:
    location: str
    sha256: str
    size: int


@dataclass(frozen=True)
class LoadedModel:
    """A model that passed the checks: its proto (external data inlined) and provenance."""

    path: Path
    proto: ModelProto
    sha256: str
    size: int
    initializer_bytes: int
    external_files: tuple[ExternalFile, ...]

    def serialized(self) -> bytes:
        return self.proto.SerializeToString()


def load_model(path: str | os.PathLike[str], limits: Limits = Limits()) -> LoadedModel:
    """Read, check and return a model; raise ModelError with one actionable line on any failure."""
    path = Path(path)
    raw = _read_capped(path, limits.max_file_bytes)
    try:
        proto = onnx.load_model_from_string(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{path}: not a valid ONNX file ({_short(exc)}); check that it is an .onnx model"
        ) from None
    if not proto.HasField("graph") or not proto.graph.output:
        raise ModelError(f"{path}: not a valid ONNX model (no graph or no outputs); check the file")
    _check_text(path, proto)
    _check_domains(path, proto)
    external = _inline_external_data(path, proto, limits)
    size_bytes = sum(_tensor_nbytes(t) for t in _all_tensors(proto))
    if size_bytes > limits.max_initializer_bytes:
        raise ModelError(
            f"{path}: weights total {size_bytes / GiB:.2f} GiB, over the {limits.max_initializer_bytes / GiB:.2f} GiB "
            "limit; raise it with --max-initializer-bytes if you trust this model"
        )
    if proto.ByteSize() > PROTOBUF_LIMIT:
        raise ModelError(f"{path}: model with its external data exceeds 2 GiB, which is not supported")
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # checker raises ValidationError and, on malformed input, others
        raise ModelError(f"{path}: fails the ONNX checker: {_short(exc)}") from None
    return LoadedModel(
        path=path,
        proto=proto,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        initializer_bytes=size_bytes,
        external_files=tuple(external),
    )


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        st = path.stat()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror}); check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelError(f"{path}: not a regular file; give the path of an .onnx file")
    if st.st_size > cap:
        raise ModelError(
            f"{path}: {st.st_size / GiB:.2f} GiB is over the {cap / GiB:.2f} GiB size limit; "
            "raise it with --max-model-bytes if you trust this file"
        )
    try:
        with path.open("rb") as fh:
            return fh.read(min(st.st_size, cap) + 1)  # read(cap) would reserve cap bytes up front
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror})") from None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def iter_graphs(proto: ModelProto) -> Iterator[GraphProto]:
    """The main graph and every subgraph (If/Loop/Scan bodies), depth first."""
    stack = [proto.graph]
    for function in proto.functions:
        stack.extend(_attribute_graphs(function.node))
    while stack:
        graph = stack.pop()
        yield graph
        stack.extend(_attribute_graphs(graph.node))


def _attribute_graphs(nodes: object) -> Iterator[GraphProto]:
    for node in nodes:  # type: ignore[attr-defined]
        for attr in node.attribute:
            if attr.HasField("g"):
                yield attr.g
            yield from attr.graphs


def iter_nodes(proto: ModelProto) -> Iterator[onnx.NodeProto]:
    """Every node: graphs, subgraphs and functions."""
    for graph in iter_graphs(proto):
        yield from graph.node
    for function in proto.functions:
        yield from function.node


def _all_tensors(proto: ModelProto) -> Iterator[TensorProto]:
    """Every TensorProto that can hold data, wherever it sits in the model."""
    for graph in iter_graphs(proto):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
    for node in iter_nodes(proto):
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            for sparse in attr.sparse_tensors:
                yield sparse.values
                yield sparse.indices


def _check_domains(path: Path, proto: ModelProto) -> None:
    local = {(f.domain, f.name) for f in proto.functions}
    for node in iter_nodes(proto):
        if node.domain not in ALLOWED_DOMAINS and (node.domain, node.op_type) not in local:
            raise ModelError(
                f"{path}: operator '{node.op_type}' from custom domain '{node.domain}' needs a native "
                "custom-op library, which this tool never loads; ask the vendor for a standard-ops export"
            )


def _check_text(path: Path, message: Message) -> None:
    """Refuse text fields that are not UTF-8: protobuf hands them over as bytes, which nothing downstream expects."""
    if isinstance(message, TensorProto):  # never materialise tensor data; only its names can hold text
        fields = [
            (TensorProto.DESCRIPTOR.fields_by_name["name"], message.name),
            *[(None, e) for e in message.external_data],
        ]
    else:
        fields = message.ListFields()
    for field, value in fields:
        if field is None:
            _check_text(path, value)
            continue
        values = [value] if isinstance(value, str | bytes | Message) else value
        if field.type == field.TYPE_STRING and any(isinstance(v, bytes) for v in values):
            raise ModelError(
                f"{path}: text field '{field.name}' is not valid UTF-8; the file is damaged or hostile"
            )
        if field.type == field.TYPE_MESSAGE:
            for item in values:
                _check_text(path, item)


def _tensor_nbytes(tensor: TensorProto) -> int:
    if tensor.HasField("raw_data"):
        return len(tensor.raw_data)
    count = 1
    for dim in tensor.dims:
        count *= max(int(dim), 0)
    itemsize = _itemsize(tensor.data_type) or 8
    return count * itemsize


def _itemsize(data_type: int) -> int | None:
    try:
        np_type = onnx.helper.tensor_dtype_to_np_dtype(data_type)
    except (KeyError, ValueError, TypeError):
        return None
    if np_type.kind in "OSU":
        return None
    return np_type.itemsize


def _inline_external_data(path: Path, proto: ModelProto, limits: Limits) -> list[ExternalFile]:
    """Validate every external-data reference and replace it with the bytes it points to."""
    base = path.resolve().parent
    files: dict[str, ExternalFile] = {}
    total = 0
    for tensor in _all_tensors(proto):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = _confined(path, base, location)
        offset, length = _int_field(path, info, "offset", 0), _int_field(path, info, "length", -1)
        size = target.stat().st_size
        if length < 0:
            length = size - offset
        if offset < 0 or offset + length > size:
            raise ModelError(f"{path}: external data '{location}' is shorter than the tensor it should hold")
        expected = _expected_nbytes(tensor)
        if expected is not None and expected != length:
            raise ModelError(
                f"{path}: external data for tensor '{tensor.name}' has {length} bytes, its shape needs {expected}"
            )
        total += length
        if total > limits.max_initializer_bytes:
            raise ModelError(
                f"{path}: external data exceeds the {limits.max_initializer_bytes / GiB:.2f} GiB limit"
            )
        with target.open("rb") as fh:
            fh.seek(offset)
            tensor.raw_data = fh.read(length)
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT
        if location not in files:
            files[location] = ExternalFile(location, _sha256_file(target), size)
    return list(files.values())


def _confined(path: Path, base: Path, location: str) -> Path:
    """Resolve an external-data location, refusing anything that could leave the model's folder."""
    refuse = f"{path}: external data location '{location}'"
    parts = location.replace("\\", "/").split("/")
    if not location or "\x00" in location:
        raise ModelError(f"{refuse} is empty or malformed; the model cannot be loaded safely")
    if (
        os.path.isabs(location)
        or location.startswith(("/", "\\"))
        or (len(location) > 1 and location[1] == ":")
    ):
        raise ModelError(f"{refuse} is absolute; external data must sit in the model's folder")
    if ".." in parts:
        raise ModelError(f"{refuse} climbs out with '..'; external data must sit in the model's folder")
    candidate = base / location
    try:
        info = os.lstat(candidate)
    except OSError:
        raise ModelError(f"{refuse} does not exist next to the model; copy the data file beside it") from None
    if stat.S_ISLNK(info.st_mode):
        raise ModelError(
            f"{refuse} is a symbolic link, which is refused; copy the real file beside the model"
        )
    resolved = candidate.resolve()
    if not resolved.is_relative_to(base):
        raise ModelError(f"{refuse} resolves outside the model's folder; refused")
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{refuse} is not a regular file; refused")
    if info.st_nlink != 1:
        raise ModelError(
            f"{refuse} is a hard link ({info.st_nlink} links); copy the real file beside the model"
        )
    return resolved


def _int_field(path: Path, info: dict[str, str], key: str, default: int) -> int:
    if key not in info:
        return default
    try:
        return int(info[key])
    except ValueError:
        raise ModelError(f"{path}: external data {key} '{info[key][:40]}' is not a number") from None


def _expected_nbytes(tensor: TensorProto) -> int | None:
    itemsize = _itemsize(tensor.data_type)
    if itemsize is None:
        return None
    count = 1
    for dim in tensor.dims:
        count *= int(dim)
    return count * itemsize


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
