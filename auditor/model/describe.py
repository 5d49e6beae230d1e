"""A plain description of a loaded classifier: the facts `inspect` prints and the audit's provenance uses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnxruntime as ort

from auditor.errors import ArgumentError
from auditor.model.blackbox import BlackBox, model_metadata
from auditor.model.preprocess import contract_of


def parameter_count(blackbox: BlackBox) -> int:
    graph = blackbox.model.proto.graph
    return int(sum(np.prod(t.dims, dtype=np.int64) for t in graph.initializer))


def values_facts(blackbox: BlackBox) -> dict[str, Any]:
    """The values an input element takes as declared or read from the dtype: discrete or not, and bounds
    (None where unknown without data)."""
    try:
        values = blackbox.input_values()
    except ArgumentError:  # discrete, range known only from data
        return {"discrete": True, "low": None, "high": None}
    bound = [value if math.isfinite(value) else None for value in (values.low, values.high)]
    return {"discrete": values.discrete, "low": bound[0], "high": bound[1]}


def describe(blackbox: BlackBox) -> dict[str, Any]:
    """JSON-ready facts about the model; metadata values are untrusted text, passed on as data."""
    proto = blackbox.model.proto
    sig = blackbox.signature
    return {
        "path": str(blackbox.path),
        "sha256": blackbox.model.sha256,
        "size": blackbox.model.size,
        "external_data": [
            {"location": f.location, "sha256": f.sha256, "size": f.size}
            for f in blackbox.model.external_files
        ],
        "ir_version": int(proto.ir_version),
        "opsets": {(o.domain or "ai.onnx"): int(o.version) for o in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "doc_string": proto.doc_string,
        "parameters": parameter_count(blackbox),
        "metadata": model_metadata(blackbox.model),
        "inputs": [i.to_dict() for i in sig.inputs],
        "outputs": [o.to_dict() for o in sig.outputs],
        "input": {
            "names": list(sig.input.names),
            "dtype": sig.input.dtype,
            "sample_shape": list(sig.input.sample_shape),
            "layout": sig.input.layout,
            "fixed_batch": sig.input.batch,
        },
        "convention": sig.convention,
        "convention_reason": sig.reason,
        "score_output": sig.score_output,
        "label_output": sig.label_output,
        "n_classes": sig.n_classes,
        "class_names": list(blackbox.class_names),
        "preprocess": contract_of(blackbox),
        "input_values": values_facts(blackbox),
        "output_batch_axis": sig.batch_axis,
        "provider": blackbox.provider,
        "providers_available": ort.get_available_providers(),
        "onnxruntime_version": ort.__version__,
    }
