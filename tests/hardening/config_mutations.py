"""Mutated audit configs for fuzzing: wrong types, unknown keys, missing or odd files, absurd numbers, deleted
keys, damaged TOML text. A config is a dict written out by a small TOML writer (tomllib only reads)."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

FILE_KEYS = [
    ("model", "path"),
    ("generator", "path"),
    ("generator", "encoder"),
    ("data", "path"),
    ("baseline", "path"),
]
ODD_FILES = [
    "nope.onnx",
    "/nonexistent/x.onnx",
    "",
    ".",
    "..",
    "../../etc/passwd",
    "data.npz/",
    "model.onnx\x00",
    "~",
]
ODD_VALUES: list[Any] = [1, -1, 0, 0.5, "text", True, [1, 2], {"a": 1}, [], "", ["a", 3], math.nan]
ABSURD_NUMBERS: list[Any] = [
    -1,
    0,
    2**63 - 1,
    -(2**63),
    10**18,
    2**31,
    1e18,
    1e308,
    math.inf,
    -math.inf,
    math.nan,
    -0.0,
    1e-320,
    1e-9,
]
NUMERIC_KEYS = {
    "run": ["seed", "budget", "threads", "max_queries", "check_timeout"],
    "data": ["limit"],
    "model": ["batch_size"],
    "baseline": ["max_regression"],
    "checks.accuracy": ["min", "max_ece", "min_class_recall", "bins", "timeout"],
    "checks.stability": ["noise", "samples", "repeats", "max_flip_rate", "max_class_flip_rate", "timeout"],
    "checks.exemplars": ["per_class", "min_confidence", "budget", "min_reached", "timeout"],
    "checks.counterfactuals": [
        "samples",
        "target",
        "budget",
        "min_validity",
        "matrix_per_class",
        "matrix_budget",
        "timeout",
    ],
    "checks.attributions": [
        "samples",
        "baseline",
        "window",
        "stride",
        "lime_samples",
        "steps",
        "orders",
        "min_faithful",
        "timeout",
    ],
}


def absurd_configs() -> list[tuple[str, str, Any]]:
    """Every (table, key, absurd number) pair: the base config with that one value changed."""
    return [
        (table, key, value)
        for table, keys in NUMERIC_KEYS.items()
        for key in keys
        for value in ABSURD_NUMBERS
    ]


def with_value(table: str, key: str, value: Any) -> bytes:
    """The base config as TOML bytes with [table] key = value."""
    doc = base_config()
    _table(doc, table)[key] = value
    return to_toml(doc).encode("utf-8")


def base_config() -> dict[str, Any]:
    """A valid config over model.onnx, generator.onnx and data.npz in the config's folder."""
    return {
        "model": {"path": "model.onnx"},
        "generator": {"path": "generator.onnx"},
        "data": {"path": "data.npz", "limit": 20},
        "run": {"seed": 0, "device": "cpu", "budget": 50},
        "checks": {
            "accuracy": {"min": 0.5},
            "stability": {"noise": 0.05, "samples": 10, "repeats": 2, "max_flip_rate": 0.5},
            "exemplars": {"classes": "all", "per_class": 1, "min_confidence": 0.5},
            "counterfactuals": {"samples": 2, "target": "second", "min_validity": 0.5, "matrix": False},
            "attributions": {"methods": ["occlusion"], "samples": 1},
        },
    }


def _tables(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(prefix, doc)]
    for key, value in doc.items():
        if isinstance(value, dict):
            found += _tables(value, f"{prefix}.{key}" if prefix else key)
    return found


def _table(doc: dict[str, Any], dotted: str) -> dict[str, Any]:
    for part in dotted.split("."):
        doc = doc.setdefault(part, {}) if isinstance(doc.get(part, {}), dict) else {}
    return doc


def _pick(rng: np.random.Generator, items: list[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def wrong_type(doc: dict[str, Any], rng: np.random.Generator) -> None:
    _, table = _pick(rng, _tables(doc))
    if table:
        table[_pick(rng, sorted(table))] = copy.deepcopy(_pick(rng, ODD_VALUES))


def unknown_key(doc: dict[str, Any], rng: np.random.Generator) -> None:
    _, table = _pick(rng, _tables(doc))
    table[_pick(rng, ["pth", "Path", "budgett", "extra", "enabled ", "checks", "x.y"])] = 1


def odd_file(doc: dict[str, Any], rng: np.random.Generator) -> None:
    table, key = _pick(rng, FILE_KEYS)
    _table(doc, table)[key] = _pick(rng, ODD_FILES)


def absurd_number(doc: dict[str, Any], rng: np.random.Generator) -> None:
    table = _pick(rng, sorted(NUMERIC_KEYS))
    _table(doc, table)[_pick(rng, NUMERIC_KEYS[table])] = _pick(rng, ABSURD_NUMBERS)


def delete(doc: dict[str, Any], rng: np.random.Generator) -> None:
    _, table = _pick(rng, _tables(doc))
    if table:
        del table[_pick(rng, sorted(table))]


CONFIG_MUTATIONS: dict[str, Callable[[dict[str, Any], np.random.Generator], None]] = {
    "wrong_type": wrong_type,
    "unknown_key": unknown_key,
    "odd_file": odd_file,
    "absurd_number": absurd_number,
    "delete": delete,
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """Scalars and lists first, then each sub-table under its dotted [header]; empty tables written as headers."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in doc.items():
        if isinstance(value, dict):
            name = f"{prefix}.{_key(key)}" if prefix else _key(key)
            text += f"\n[{name}]\n" + to_toml(value, name)
    return text


def mutated_config(ops: list[str], text_damage: bool, seed: int) -> bytes:
    """The base config with the named mutations applied, as TOML bytes, optionally with bytes flipped or cut."""
    rng = np.random.default_rng(seed)
    doc = base_config()
    for name in ops:
        CONFIG_MUTATIONS[name](doc, rng)
    data = to_toml(doc).encode("utf-8", "surrogatepass")
    if text_damage and data:
        if rng.random() < 0.5:
            data = data[: int(rng.integers(len(data)))]
        else:
            out = bytearray(data)
            for pos in rng.integers(0, len(out), size=int(rng.integers(1, 5))):
                out[pos] ^= int(rng.integers(1, 256))
            data = bytes(out)
    return data
