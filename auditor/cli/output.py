"""What a command writes: strict JSON and PNG files into its output folder, and untrusted text on a terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from auditor.jsonable import jsonable
from auditor.pictures import save_png

IMAGES = "images"  # the pictures' folder inside --out


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


def save_picture(out: Path, stem: str, rgb: np.ndarray) -> str:
    """Save an RGB picture as `images/<stem>.png` inside the output folder; its path relative to the folder."""
    relative = Path(IMAGES) / f"{stem}.png"
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    save_png(rgb, out / relative)
    return relative.as_posix()
