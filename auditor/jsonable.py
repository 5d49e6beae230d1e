"""The one conversion of result values to strict JSON: numpy to Python, NaN and infinities to null."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from pathlib import PurePath
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """`value` as plain JSON values: arrays and tuples as lists, numpy scalars as Python numbers,
    dataclasses and mappings as objects (keys as strings), paths as POSIX strings, NaN and ±inf as None.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return value.as_posix()
    return value
