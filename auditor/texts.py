"""Text data: .txt (one example a line), .csv with a header, .jsonl (one JSON object a line).

A .csv or .jsonl holds a text column and optionally a label column; labels are class names or class
indices, resolved against the model's class names by `TextData.label_indices`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.errors import DataError

TEXT_SUFFIXES = (".txt", ".csv", ".jsonl")
TEXT_COLUMNS = ("text", "sentence", "content", "review", "document", "body")
LABEL_COLUMNS = ("label", "labels", "target", "y", "class", "category")
MAX_TEXT_FILE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class TextData:
    """Texts and, when the file has them, their labels as written (names or indices, as strings)."""

    texts: tuple[str, ...]
    labels: tuple[str, ...] | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def label_indices(self, class_names: Sequence[str]) -> np.ndarray:
        """Labels as class indices: a label is a class name, else an index 0..K-1; DataError otherwise."""
        if self.labels is None:
            raise DataError(f"{self.source}: the data has no labels")
        by_name = {name: i for i, name in enumerate(class_names)}
        out = np.empty(len(self.labels), np.int64)
        for row, label in enumerate(self.labels):
            index = by_name.get(label)
            if index is None and label.strip().lstrip("-").isdigit():
                index = int(label)
            if index is None or not 0 <= index < len(class_names):
                names = ", ".join(repr(n) for n in list(class_names)[:6])
                raise DataError(
                    f"{self.source}: label {label[:40]!r} (example {row + 1}) is neither a class name ({names}"
                    f"{', …' if len(class_names) > 6 else ''}) nor a class index 0..{len(class_names) - 1}"
                )
            out[row] = index
        return out


def load_texts(
    path: str | os.PathLike[str], *, text_column: str | None = None, label_column: str | None = None
) -> TextData:
    """Read texts (and labels) from a .txt, .csv or .jsonl file; one clear DataError when it cannot."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise DataError(f"{path}: unknown text format '{suffix}'; use .txt, .csv or .jsonl")
    content = _read(path)
    if suffix == ".txt":
        if text_column or label_column:
            raise DataError(f"{path}: a .txt file has no columns; it holds one text a line")
        lines = tuple(line for line in content.splitlines() if line.strip())
        if not lines:
            raise DataError(f"{path}: the file holds no texts")
        return TextData(lines, None, str(path))
    records = _csv_records(path, content) if suffix == ".csv" else _jsonl_records(path, content)
    if not records:
        raise DataError(f"{path}: the file holds no texts")
    columns = list(records[0])
    text_key = _column(path, columns, text_column, TEXT_COLUMNS, "text", required=True)
    assert text_key is not None  # required: _column raised otherwise
    label_key = _column(path, columns, label_column, LABEL_COLUMNS, "label", required=False)
    texts: list[str] = []
    labels: list[str] = []
    for row, record in enumerate(records, start=1):
        text = record.get(text_key)
        if not isinstance(text, str):
            raise DataError(f"{path}: example {row} has no text in column '{text_key}'")
        texts.append(text)
        if label_key is not None:
            label = record.get(label_key)
            if isinstance(label, bool) or not isinstance(label, str | int):
                raise DataError(
                    f"{path}: example {row} has no label (a class name or index) in '{label_key}'"
                )
            labels.append(str(label))
    return TextData(tuple(texts), tuple(labels) if label_key is not None else None, str(path))


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_FILE_BYTES:
            raise DataError(
                f"{path}: {size / 2**20:.0f} MiB of text is over the {MAX_TEXT_FILE_BYTES >> 20} MiB limit"
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file; check the path") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; give a .txt, .csv or .jsonl file") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({' '.join(str(exc).split())[:200]})") from None


def _csv_records(path: Path, content: str) -> list[dict[str, object]]:
    try:
        rows = list(csv.reader(content.splitlines()))
    except csv.Error as exc:
        raise DataError(f"{path}: cannot read the CSV ({exc})") from None
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise DataError(f"{path}: the CSV needs a header row and at least one text row")
    header = [h.strip() for h in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: row {number} has {len(row)} cells, the header {len(header)}")
    return [dict(zip(header, row)) for row in rows[1:]]


def _jsonl_records(path: Path, content: str) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise DataError(f"{path}: line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number} is not a JSON object with a text field")
        records.append(record)
    return records


def _column(
    path: Path, columns: list[str], given: str | None, known: tuple[str, ...], what: str, *, required: bool
) -> str | None:
    if given is not None:
        if given not in columns:
            raise DataError(f"{path}: no {what} column '{given[:40]}' (columns: {', '.join(columns)[:200]})")
        return given
    found = next((c for c in columns if c.lower() in known), None)
    if found is None and required:
        raise DataError(
            f"{path}: no text column ({', '.join(known)}) among {', '.join(columns)[:200]}; name it with "
            "text_column"
        )
    return found
