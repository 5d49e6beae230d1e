"""The one JSON converter: whatever a result holds comes out as strict JSON, NaN and infinities as null."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.jsonable import jsonable


@dataclass(frozen=True)
class Point:
    where: Path
    scores: np.ndarray


def test_numpy_values_nested_anywhere_become_plain_json():
    value = {
        1: np.float32(0.5),
        "ints": np.arange(3, dtype=np.int64),
        "flags": (np.bool_(True), False),
        "bad": [np.nan, np.float64(np.inf), -np.inf],
        "point": Point(Path("models") / "m.onnx", np.array([[1.0, np.nan]], np.float32)),
        "name": np.str_("cat"),
    }
    out = jsonable(value)
    assert out == {
        "1": 0.5,
        "ints": [0, 1, 2],
        "flags": [True, False],
        "bad": [None, None, None],
        "point": {"where": "models/m.onnx", "scores": [[1.0, None]]},
        "name": "cat",
    }
    assert type(out["ints"][0]) is int and type(out["flags"][0]) is bool and type(out["1"]) is float
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # strict JSON, round trip
