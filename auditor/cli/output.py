"""What a command writes: strict JSON and CSV files into its output folder, and untrusted text on a terminal."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from auditor.jsonable import jsonable


def printable(text: object, limit: int = 2000) -> str:
    """Untrusted text made safe for a terminal: control characters escaped, length capped."""
    escaped = "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode("ascii")
        for char in str(text)
    )
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def write_json(out: Path, name: str, document: dict[str, Any]) -> Path:
    """Write one document into the output folder as strict JSON (`auditor.jsonable`: NaN as null)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(jsonable(document), indent=2, ensure_ascii=True, allow_nan=False) + "\n")
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV file: one header line, then the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
