"""Class names and labels: names read from a file or metadata text, labels and class choices as names or indices.

A label or a class choice is matched first as a class name, then as an index 0..K-1, so a model whose
names are "0", "90", "180", "270" reads the label "90" as class 1, and a model named "0".."9" reads
"3" as class 3 either way.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from auditor.errors import ArgumentError, DataError

LABEL_COLUMNS = ("label", "target", "y", "class")
MAX_NAMES_BYTES = 16 * 2**20  # a class-names file; a 214-class vendor file is a few KiB
MAX_SHOWN = 40  # characters of one untrusted name or label in a message


def shown(text: object) -> str:
    """Untrusted text for a one-line message: quoted, control characters escaped, length capped."""
    s = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))
    return "'" + (s if len(s) <= MAX_SHOWN else s[: MAX_SHOWN - 3] + "...") + "'"


def names_from_value(value: object) -> tuple[str, ...] | None:
    """Names from a parsed value: a list, an {index: name} mapping, or an object holding `id2label`; else None."""
    if isinstance(value, dict) and isinstance(value.get("id2label"), dict):
        value = value["id2label"]
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value) or None
    if isinstance(value, dict) and value:
        try:
            index = {int(k): v for k, v in value.items()}
        except (TypeError, ValueError):
            return None
        if sorted(index) != list(range(len(index))):
            return None
        return tuple(str(index[i]) for i in range(len(index)))
    return None


def parse_names(text: str) -> tuple[str, ...] | None:
    """Names from text: JSON or a Python literal (list, {index: name}, config with id2label), else one per line.

    A single line that is not a list or mapping is not read as names (it may be any metadata value).
    """
    stripped = text.strip()
    if not stripped:
        return None
    if stripped[0] in "[{(":
        try:
            value = json.loads(stripped)
        except ValueError:
            try:
                value = ast.literal_eval(stripped)
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                value = None
        if value is not None:
            return names_from_value(value)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return tuple(line.strip() for line in lines) if len(lines) > 1 else None


def read_class_names(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Class names from a file: one per line, a JSON list, a JSON {index: name}, or a config.json with id2label."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such class-names file; check the path")
    if path.stat().st_size > MAX_NAMES_BYTES:
        raise DataError(f"{path}: the class-names file is over {MAX_NAMES_BYTES // 2**20} MiB")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the class names ({exc}); save them as UTF-8 text") from None
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
        names = names_from_value(value)
        if names is None:
            raise DataError(
                f"{path}: JSON class names must be a list, an {{index: name}} object with indices 0..K-1, "
                "or a config with id2label"
            )
    else:
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        names = tuple(line.strip() for line in lines)
        blank = next((i for i, name in enumerate(names) if not name), None)
        if blank is not None:
            raise DataError(f"{path}:{blank + 1}: blank line among the class names (one name per line)")
    if not names:
        raise DataError(f"{path}: the file holds no class names")
    check_distinct(names, str(path))
    return names


def check_distinct(names: Sequence[str], source: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{source}: class name {shown(name)} appears twice; names must be distinct")
        seen.add(name)


def class_names_argument(value: str) -> tuple[str, ...]:
    """A --class-names value: the path of a names file when such a file exists, else comma-separated names."""
    if Path(value).is_file():
        return read_class_names(value)
    return tuple(name.strip() for name in value.split(","))


def listed(names: Sequence[str], count: int = 8) -> str:
    """The first `count` class names for a message, each `shown`, with "..." when there are more."""
    return ", ".join(shown(n) for n in names[:count]) + (", ..." if len(names) > count else "")


def find_class(text: str, names: Sequence[str]) -> int | None:
    """The class `text` names: by name (as given, then stripped), else by index 0..K-1; None when neither."""
    if text in names:
        return list(names).index(text)
    stripped = text.strip()
    if stripped in names:
        return list(names).index(stripped)
    if stripped.isdigit() and int(stripped) < len(names):
        return int(stripped)
    return None


def unknown_class(names: Sequence[str]) -> str:
    """Why a text chooses no class: the words every class choice refuses with (flags and config keys)."""
    return f"neither a class name nor an index 0..{len(names) - 1}; classes: {listed(names)}"


def class_index(text: str, names: Sequence[str], what: str = "class") -> int:
    """One class chosen by name, else by index 0..K-1."""
    found = find_class(text, names)
    if found is None:
        raise ArgumentError(f"{what}: {shown(text)} is {unknown_class(names)}")
    return found


def class_indices(text: str, names: Sequence[str], what: str = "classes") -> tuple[int, ...]:
    """Classes chosen as "all" or a comma-separated list of names and indices, in the order given."""
    if text.strip() == "all":
        return tuple(range(len(names)))
    chosen = [class_index(part, names, what) for part in text.split(",") if part.strip()]
    if not chosen:
        raise ArgumentError(f"{what}: no class given; use all, names or indices")
    return tuple(dict.fromkeys(chosen))


def label_indices(labels: np.ndarray, names: Sequence[str], source: str) -> np.ndarray:
    """Labels (integer indices, or text holding names or indices) as int64 class indices.

    One DataError line names the first label that is not a class of the model.
    """
    labels = np.asarray(labels).reshape(-1)
    k = len(names)
    if labels.dtype.kind in "iu":
        bad = labels[(labels < 0) | (labels >= k)]
        if bad.size:
            raise DataError(
                f"{source}: label {int(bad[0])} is not a class of the model (it has {k} classes, 0..{k - 1})"
            )
        return labels.astype(np.int64)
    uniques, inverse = np.unique(labels.astype(str), return_inverse=True)
    position = {name: i for i, name in enumerate(names)}
    index = np.empty(len(uniques), dtype=np.int64)
    for i, label in enumerate(uniques.tolist()):  # one step per distinct label, not per row
        text = label.strip()
        found = position.get(label, position.get(text))
        if found is None and text.isdigit() and int(text) < k:
            found = int(text)
        if found is None:
            raise DataError(
                f"{source}: label {shown(label)} is not a class of the model (classes: {listed(names)}); "
                "check the labels or give the model's class names"
            )
        index[i] = found
    return index[inverse.reshape(-1)]
