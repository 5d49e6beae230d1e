"""Input layout and output convention of a classifier: how to feed it and how to read class scores.

Detection reads the graph (the node that produces each output, ZipMap and ai.onnx.ml classifier
attributes) and confirms by probing the model with a few rows. When it cannot decide it raises a
ConventionError naming the flag that settles it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import ModelProto

from auditor.errors import ConventionError
from auditor.labels import parse_names

ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
}
FLOAT_TYPES = ("tensor(float)", "tensor(float16)", "tensor(double)")
INT_TYPES = ("tensor(int64)", "tensor(int32)")
LABEL_TYPES = ("tensor(int64)", "tensor(int32)", "tensor(string)")
PASS_THROUGH = {"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "CastLike"}
ML_CLASSIFIERS = {"LinearClassifier", "SVMClassifier", "TreeEnsembleClassifier", "TreeEnsemble"}
SCORE_HINTS = ("prob", "logit", "score", "output")
#: Metadata keys vendors put class names under (`character`: PaddleOCR-style exports, one name per line).
METADATA_KEYS = ("class_names", "classes", "labels", "names", "id2label", "character", "categories")
#: What a score output may be declared to hold (--scores, [model] scores), when detection cannot tell.
SCORE_KINDS = ("logits", "probabilities", "log-probabilities")
#: Input layouts one can declare (--layout, [model] layout) for a single-tensor input.
SETTABLE_LAYOUTS = ("NCHW", "NHWC", "HW", "flat", "tensor")
#: Text models: token ids (one or more int tensors, stacked per row as (inputs, length)) or raw strings.
TEXT_LAYOUTS = ("tokens", "text")
#: Every layout an input may have: the settable ones, "columns" (one input per feature) and the text ones.
LAYOUTS = (*SETTABLE_LAYOUTS, "columns", *TEXT_LAYOUTS)
#: Layouts whose samples are pictures, and those of them with a channel axis.
IMAGE_LAYOUTS = ("NCHW", "NHWC", "HW")
CHANNEL_LAYOUTS = ("NCHW", "NHWC")
#: The inputs of a Hugging Face Optimum export, in the order rows stack them when the model does not say.
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
STRING_TYPE = "tensor(string)"
#: Sequence length of the probe rows of a token model whose length axis is dynamic.
PROBE_LENGTH = 8
CHANNEL_SIZES = (1, 2, 3, 4)

#: How each convention turns the chosen output into probabilities.
TRANSFORMS = {
    "logits": "softmax",
    "probabilities": "identity",
    "label+probabilities": "identity",
    "zipmap": "identity",
    "log_probabilities": "exp",
    "binary_probability": "binary",
    "binary_logit": "binary_sigmoid",
    "multilabel_sigmoid": "normalise",
    "label_only": "onehot",
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: str
    shape: tuple[int | str | None, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "shape": list(self.shape)}


@dataclass(frozen=True)
class InputSpec:
    """How rows are fed: per-sample shape (model layout), dtype, layout, fixed batch."""

    names: tuple[str, ...]
    dtypes: tuple[str, ...]
    sample_shape: tuple[int, ...]
    layout: str
    batch: int | None

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def dtype(self) -> str:
        return self.dtypes[0]


@dataclass(frozen=True)
class Signature:
    input: InputSpec
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    convention: str
    score_output: str | None
    label_output: str | None
    n_classes: int
    class_labels: tuple[str, ...]
    reason: str
    batch_axis: int = 0  # the score output's batch axis (moved first when it is not)

    @property
    def transform(self) -> str:
        return TRANSFORMS[self.convention]

    @property
    def hard_label(self) -> bool:
        return self.convention == "label_only"


# ---------------------------------------------------------------- graph preparation


def expose_zipmap_inputs(proto: ModelProto) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Add the float tensor feeding each output ZipMap as a graph output, so scores come back as one array.

    Returns {zipmap output name: (tensor name, class labels)}.
    """
    outputs = {o.name for o in proto.graph.output}
    exposed: dict[str, tuple[str, tuple[str, ...]]] = {}
    for node in proto.graph.node:
        if node.op_type != "ZipMap" or not node.output or node.output[0] not in outputs:
            continue
        labels = _class_labels_of(node)
        source = node.input[0]
        if source not in outputs:
            proto.graph.output.append(
                onnx.helper.make_tensor_value_info(source, onnx.TensorProto.FLOAT, None)
            )
            outputs.add(source)
        exposed[node.output[0]] = (source, labels)
    return exposed


def _class_labels_of(node: onnx.NodeProto) -> tuple[str, ...]:
    for attr in node.attribute:
        if attr.name in ("classlabels_int64s", "classlabels_ints"):
            return tuple(str(v) for v in attr.ints)
        if attr.name == "classlabels_strings":
            return tuple(v.decode("utf-8", "replace") for v in attr.strings)
    return ()


def _producers(proto: ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in proto.graph.node for out in node.output}


def _final_op(name: str, producers: dict[str, onnx.NodeProto]) -> onnx.NodeProto | None:
    node = producers.get(name)
    for _ in range(16):
        if node is None or node.op_type not in PASS_THROUGH or not node.input:
            return node
        node = producers.get(node.input[0])
    return node


def _graph_labels(proto: ModelProto) -> tuple[str, ...]:
    for node in proto.graph.node:
        if node.op_type in ML_CLASSIFIERS | {"ZipMap"}:
            labels = _class_labels_of(node)
            if labels:
                return labels
    return ()


def metadata_class_names(metadata: dict[str, str], n_classes: int) -> tuple[str, ...] | None:
    """Class names from model metadata (JSON, a Python literal, an id2label config, or one per line), if they fit K."""
    for key in METADATA_KEYS:
        text = metadata.get(key)
        if not text or len(text) > 100_000:
            continue
        names = parse_names(text)
        if names is not None and len(names) == n_classes:
            return names
    return None


# ---------------------------------------------------------------- inputs


def dims_of(shape: object) -> tuple[int | str | None, ...]:
    return tuple(d if isinstance(d, int | str) or d is None else None for d in (shape or ()))  # type: ignore[attr-defined]


def detect_input(
    inputs: tuple[TensorInfo, ...],
    sample_shape: tuple[int, ...] | None = None,
    layout: str | None = None,
    hint: tuple[int, ...] | None = None,
) -> InputSpec:
    """Read the input(s): one tensor (image/flat), or one column per input (skl2onnx DataFrame style).

    `hint` (the data's row shape) settles dynamic per-sample dimensions when it fits the declared ones.
    """
    if not inputs:
        raise ConventionError("the model declares no inputs; it cannot be audited")
    if layout in TEXT_LAYOUTS or is_text_input(inputs):
        return detect_text_input(inputs, layout, sample_shape)
    for info in inputs:
        if info.type not in ORT_DTYPES:
            raise ConventionError(
                f"input '{info.name}' has type {info.type}; only numeric tensors (float16/32/64, int) are supported"
            )
    if len(inputs) > 1:
        if all(len(i.shape) == 2 and i.shape[1] == 1 for i in inputs):
            batch = _fixed_batch(inputs[0])
            return InputSpec(
                names=tuple(i.name for i in inputs),
                dtypes=tuple(ORT_DTYPES[i.type] for i in inputs),
                sample_shape=(len(inputs),),
                layout="columns",
                batch=batch,
            )
        names = ", ".join(i.name for i in inputs)
        raise ConventionError(
            f"the model has {len(inputs)} inputs ({names}); only one tensor input or one column per input is supported"
        )
    info = inputs[0]
    if not info.shape:
        raise ConventionError(f"input '{info.name}' is a scalar; a batch dimension is needed")
    declared = info.shape[1:]
    if sample_shape is None and hint is not None and _fits(declared, hint) and not _static(declared):
        sample_shape = hint
    if sample_shape is not None:
        _check_shape_fits(info, declared, sample_shape)
        shape = tuple(sample_shape)
    elif _static(declared):
        shape = tuple(int(d) for d in declared)  # type: ignore[arg-type]
    else:
        raise ConventionError(
            f"input '{info.name}' has dynamic dimensions {list(info.shape)}; give the sample shape with "
            "--input-shape (e.g. 3,224,224) or data to infer it from"
        )
    if layout is not None and layout not in SETTABLE_LAYOUTS:
        raise ConventionError(f"unknown layout '{layout}'; use one of {', '.join(SETTABLE_LAYOUTS)}")
    return InputSpec(
        names=(info.name,),
        dtypes=(ORT_DTYPES[info.type],),
        sample_shape=shape,
        layout=layout
        or guess_layout(tuple(d if isinstance(d, int) and d > 0 else s for d, s in zip(declared, shape))),
        batch=_fixed_batch(info),
    )


def is_text_input(inputs: tuple[TensorInfo, ...]) -> bool:
    """Strings, or an int input named input_ids: a text model whatever the caller asked."""
    return any(i.type == STRING_TYPE for i in inputs) or any(
        i.name == "input_ids" and i.type in INT_TYPES for i in inputs
    )


def detect_text_input(
    inputs: tuple[TensorInfo, ...], layout: str | None, sample_shape: tuple[int, ...] | None
) -> InputSpec:
    """A text model's input: one string tensor (N, 1) or (N), or int token tensors (N, length).

    Several token inputs must be Optimum's (input_ids, attention_mask, token_type_ids); each row then
    stacks them as (inputs, length). The length is the declared one when static, else `sample_shape`'s
    last value, else PROBE_LENGTH (the caller pads each call to its own length).
    """
    names = ", ".join(i.name for i in inputs)
    strings = [i for i in inputs if i.type == STRING_TYPE]
    if strings or layout == "text":
        info = inputs[0]
        if (
            len(inputs) != 1
            or not strings
            or len(info.shape) not in (1, 2)
            or info.shape[1:] not in ((), (1,))
        ):
            dims = "; ".join(f"{i.name}: {i.type} {list(i.shape)}" for i in inputs)
            raise ConventionError(
                f"a text pipeline takes one string input of shape (N, 1) or (N); this model has {dims}"
            )
        return InputSpec(
            (info.name,), ("object",), (1,) if len(info.shape) == 2 else (), "text", _fixed_batch(info)
        )
    for info in inputs:
        if info.type not in INT_TYPES or len(info.shape) != 2:
            raise ConventionError(
                f"input '{info.name}' is {info.type} {list(info.shape)}; token inputs are int tensors (N, length)"
            )
    if len(inputs) > 1:
        unknown = [i.name for i in inputs if i.name not in TOKEN_INPUTS]
        if unknown or "input_ids" not in {i.name for i in inputs}:
            raise ConventionError(
                f"the model's inputs are {names}; a text model takes input_ids, attention_mask and optionally "
                f"token_type_ids, and '{(unknown or ['input_ids'])[0]}' is "
                + ("not one of them" if unknown else "missing")
            )
    main = next((i for i in inputs if i.name == "input_ids"), inputs[0])
    declared = main.shape[1]
    if isinstance(declared, int) and declared > 0:
        length = declared
        if sample_shape and sample_shape[-1] != declared:
            raise ConventionError(
                f"input '{main.name}' has a fixed length of {declared} tokens, not {sample_shape[-1]}"
            )
    else:
        length = int(sample_shape[-1]) if sample_shape else PROBE_LENGTH
    shape = (length,) if len(inputs) == 1 else (len(inputs), length)
    return InputSpec(
        tuple(i.name for i in inputs),
        tuple(ORT_DTYPES[i.type] for i in inputs),
        shape,
        "tokens",
        _fixed_batch(main),
    )


def _static(declared: tuple[int | str | None, ...]) -> bool:
    return all(isinstance(d, int) and d > 0 for d in declared)


def _fits(declared: tuple[int | str | None, ...], shape: tuple[int, ...]) -> bool:
    return len(declared) == len(shape) and all(
        not (isinstance(d, int) and d > 0) or d == s for d, s in zip(declared, shape)
    )


def _fixed_batch(info: TensorInfo) -> int | None:
    first = info.shape[0] if info.shape else None
    return first if isinstance(first, int) and first > 0 else None


def _check_shape_fits(
    info: TensorInfo, declared: tuple[int | str | None, ...], shape: tuple[int, ...]
) -> None:
    if not _fits(declared, shape):
        raise ConventionError(
            f"input '{info.name}' expects samples of shape {list(declared)}, got {list(shape)}; check the data or --input-shape"
        )


def guess_layout(declared: tuple[int | str | None, ...]) -> str:
    """NCHW when the first per-sample axis looks like channels, NHWC when the last does."""
    if len(declared) == 1:
        return "flat"
    if len(declared) == 2:
        return "HW"
    if len(declared) != 3:
        return "tensor"
    first, last = declared[0], declared[2]
    first_ch = isinstance(first, int) and first in CHANNEL_SIZES
    last_ch = isinstance(last, int) and last in CHANNEL_SIZES
    if last_ch and not first_ch:
        return "NHWC"
    if first_ch:
        return "NCHW"
    return "tensor"


# ---------------------------------------------------------------- outputs


def detect_outputs(
    proto: ModelProto,
    outputs: tuple[TensorInfo, ...],
    zipmaps: dict[str, tuple[str, tuple[str, ...]]],
    probe: Callable[[list[str]], list[np.ndarray]],
    output: str | None = None,
    scores: str | None = None,
    n_labels: int | None = None,
    rows: int | None = None,
) -> tuple[str, str | None, str | None, int, tuple[str, ...], str]:
    """Choose the score output and its convention; returns (convention, score, label, K, labels, reason).

    `probe` answers `rows` probe rows with the batch axis first (see `check_batch_first`).
    """
    if scores is not None and scores not in SCORE_KINDS:
        raise ConventionError(f"unknown --scores '{scores}'; use one of {', '.join(SCORE_KINDS)}")
    by_name = {o.name: o for o in outputs}
    if output is not None and output not in by_name and output not in {s for s, _ in zipmaps.values()}:
        raise ConventionError(
            f"--output '{output}' is not an output of the model; outputs: {', '.join(by_name)}"
        )
    labels_out = [o.name for o in outputs if o.type in LABEL_TYPES and len(o.shape) <= 2]
    label = labels_out[0] if labels_out else None
    zipmap_sources = {source: labels for source, labels in zipmaps.values()}

    if (output is not None and output in zipmap_sources) or (output is None and zipmaps):
        name = output if output is not None else next(iter(zipmaps.values()))[0]
        (values,) = probe([name])
        k = _width(values)
        class_labels = zipmap_sources[name] or tuple(str(i) for i in range(k))
        return (
            "zipmap",
            name,
            label,
            k,
            class_labels,
            "skl2onnx ZipMap: scores read from the tensor feeding ZipMap",
        )

    if output is not None:
        name = output
        reason = f"--output {output}"
    else:
        candidates = [o for o in outputs if o.type in FLOAT_TYPES]
        if not candidates:
            if label is None:
                kinds = ", ".join(f"{o.name}: {o.type}" for o in outputs)
                raise ConventionError(
                    f"no class-score or label output found ({kinds}); choose one with --output NAME"
                )
            return _label_only(proto, label, probe, n_labels)
        name, reason = _choose_candidate(candidates, probe)
    (values,) = probe([name])
    if rows is not None:
        check_batch_first(name, values, rows)
    if values.dtype.kind not in "f":
        raise ConventionError(
            f"output '{name}' holds {values.dtype} values, not scores; choose another with --output"
        )
    k = _width(values)
    convention, why = _convention(proto, name, values, k, scores)
    if convention == "probabilities" and label is not None:
        convention = "label+probabilities"
    class_labels = _graph_labels(proto)
    if len(class_labels) != (2 if k == 1 else k):
        class_labels = ()
    n_classes = 2 if k == 1 else k
    return convention, name, label, n_classes, class_labels, f"{reason}; {why}"


def check_batch_first(name: str, values: np.ndarray, rows: int) -> None:
    """Refuse, in one line, scores whose first axis does not hold the rows (e.g. an EEG model's (time, N, K))."""
    shape = list(values.shape)
    if shape and shape[0] == rows:
        return
    axes = [i for i, d in enumerate(shape) if d == rows]
    hint = (
        f"the rows seem to be on axis {axes[0]}: read them there with --output-batch-axis {axes[0]} "
        f"([model] output_batch_axis = {axes[0]})"
        if axes
        else "no axis holds them: choose another output with --output"
    )
    raise ConventionError(
        f"output '{name}' has shape {shape} for {rows} rows, so its first axis is not the batch; {hint}"
    )


def _width(values: np.ndarray) -> int:
    if values.ndim == 1:
        return 1
    if values.ndim == 2:
        return int(values.shape[1])
    if values.ndim > 2 and all(d == 1 for d in values.shape[2:]):
        return int(values.shape[1])
    raise ConventionError(
        f"scores of shape {list(values.shape)} are not (N, K); choose another output with --output"
    )


def _choose_candidate(
    candidates: list[TensorInfo], probe: Callable[[list[str]], list[np.ndarray]]
) -> tuple[str, str]:
    if len(candidates) == 1:
        return candidates[0].name, f"single float output '{candidates[0].name}'"
    arrays = probe([c.name for c in candidates])
    usable = [
        (c, a)
        for c, a in zip(candidates, arrays)
        if a.ndim in (1, 2) or (a.ndim > 2 and a.shape[2:] == (1,) * (a.ndim - 2))
    ]
    for hint in SCORE_HINTS:
        hinted = [c for c, _ in usable if hint in c.name.lower()]
        if len(hinted) == 1:
            return hinted[
                0
            ].name, f"output '{hinted[0].name}' chosen by its name among {len(candidates)} float outputs"
    if len(usable) == 1:
        return usable[0][0].name, f"the only (N, K) output among {len(candidates)}"
    names = ", ".join(c.name for c in candidates)
    raise ConventionError(f"several outputs could hold class scores ({names}); choose one with --output NAME")


def _convention(
    proto: ModelProto, name: str, values: np.ndarray, k: int, scores: str | None
) -> tuple[str, str]:
    if scores is not None:
        chosen = {
            "logits": "logits",
            "probabilities": "probabilities",
            "log-probabilities": "log_probabilities",
        }[scores]
        if k == 1:
            chosen = "binary_logit" if scores == "logits" else "binary_probability"
        return chosen, f"--scores {scores}"
    node = _final_op(name, _producers(proto))
    op = node.op_type if node is not None else ""
    if op == "Softmax":
        return ("probabilities" if k > 1 else "binary_probability"), "produced by Softmax"
    if op == "LogSoftmax":
        return "log_probabilities", "produced by LogSoftmax"
    if op == "Sigmoid":
        return (
            ("binary_probability", "produced by Sigmoid")
            if k == 1
            else ("multilabel_sigmoid", "Sigmoid over K classes")
        )
    if node is not None and op in ML_CLASSIFIERS:
        transform = next((a.s.decode() for a in node.attribute if a.name == "post_transform"), "NONE")
        if transform in ("SOFTMAX", "SOFTMAX_ZERO", "LOGISTIC"):
            return ("probabilities" if k > 1 else "binary_probability"), f"{op} post_transform {transform}"
    return _convention_from_values(values.reshape(len(values), -1).astype(np.float64), k)


def _convention_from_values(v: np.ndarray, k: int) -> tuple[str, str]:
    finite = v[np.isfinite(v).all(axis=1)]
    if len(finite) == 0:
        raise ConventionError("the probe rows gave only NaN/Inf scores; settle the convention with --scores")
    in_unit = bool(((finite >= -1e-6) & (finite <= 1 + 1e-6)).all())
    if k == 1:
        return (
            ("binary_probability", "single score in [0, 1] on probe rows")
            if in_unit
            else (
                "binary_logit",
                "single unbounded score on probe rows",
            )
        )
    if in_unit and np.allclose(finite.sum(axis=1), 1.0, atol=1e-3):
        return "probabilities", "probe rows are non-negative and sum to 1"
    if (finite <= 1e-6).all():
        lse = np.log(np.exp(finite).sum(axis=1))
        if np.allclose(lse, 0.0, atol=1e-3):
            return "log_probabilities", "probe rows are log-probabilities"
    if in_unit:
        raise ConventionError(
            "scores lie in [0, 1] but do not sum to 1 (multi-label or unnormalised); settle it with --scores"
        )
    return "logits", "probe rows are unbounded: treated as logits (softmax applied)"


def _label_only(
    proto: ModelProto, label: str, probe: Callable[[list[str]], list[np.ndarray]], n_labels: int | None
) -> tuple[str, str | None, str | None, int, tuple[str, ...], str]:
    labels = _graph_labels(proto) or tuple(str(i) for i in range(n_labels or 0))
    if not labels:
        raise ConventionError(
            f"the model returns only labels ('{label}') and does not declare its classes; give class names in the config"
        )
    probe([label])
    return "label_only", None, label, len(labels), labels, "label output only: hard-label model"
