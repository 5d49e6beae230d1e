"""Image files as users hold them: one image, a flat folder, class sub-folders, or a folder with a labels.csv.

Labels come back as the text the user wrote (a sub-folder's name, a labels.csv cell); they are
mapped to class indices through the model's class names later (`auditor.labels.label_indices`).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.errors import DataError
from auditor.labels import LABEL_COLUMNS, shown
from auditor.preprocessing import PreprocessParams

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
LABELS_FILE = "labels.csv"
FILE_COLUMNS = ("file", "filename", "path", "image")


@dataclass(frozen=True)
class ImageFiles:
    """Images after the contract's file part: pixels (n, C, H, W) 0-255, their labels as text, their paths."""

    pixels: np.ndarray
    labels: np.ndarray | None  # (n,) str, or None when the folder carries no labels
    files: tuple[str, ...]  # relative to the folder (the file's name for a single image)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_images(path: str | os.PathLike[str], params: PreprocessParams) -> ImageFiles:
    """Read one image or a folder (labels.csv, else class sub-folders, else a flat folder) under the file part."""
    path = Path(path)
    if not path.is_dir():
        return ImageFiles(_stack(path, [path], params), None, (path.name,))
    labels: list[str] | None
    if (path / LABELS_FILE).is_file():
        files, labels = _listed(path)
    else:
        files, labels = _walk(path)
    pixels = _stack(path, files, params)
    names = tuple(p.relative_to(path).as_posix() for p in files)
    return ImageFiles(pixels, None if labels is None else np.asarray(labels, dtype=str), names)


def _walk(folder: Path) -> tuple[list[Path], list[str] | None]:
    """A flat folder of images (no labels), or class sub-folders holding images (the sub-folder is the label)."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    images = [p for p in entries if p.is_file() and is_image_file(p)]
    classes = [p for p in entries if p.is_dir() and not p.is_symlink()]
    labelled = [
        (c, sorted(p for p in c.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith(".")))
        for c in classes
    ]
    labelled = [(c, files) for c, files in labelled if files]
    if images and labelled:
        raise DataError(
            f"{folder}: holds images and also class sub-folders ({labelled[0][0].name}/...); "
            "put every image in its class's sub-folder, or list them in a labels.csv"
        )
    if images:
        return images, None
    if not labelled:
        raise DataError(
            f"{folder}: no image files (.png, .jpg, ...) found, neither in the folder nor in class sub-folders"
        )
    files = [f for _, found in labelled for f in found]
    labels = [c.name for c, found in labelled for _ in found]
    return files, labels


def _listed(folder: Path) -> tuple[list[Path], list[str]]:
    """The images a labels.csv lists (a header with a file column and a label column), inside the folder."""
    table = folder / LABELS_FILE
    try:
        with table.open(newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{table}: cannot read ({exc}); save it as UTF-8 CSV with a header row") from None
    if len(rows) < 2:
        raise DataError(f"{table}: needs a header row (file,label) and at least one image row")
    header = [h.strip().lower() for h in rows[0]]
    file_col = next((header.index(c) for c in FILE_COLUMNS if c in header), None)
    label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    if file_col is None or label_col is None:
        raise DataError(
            f"{table}: the header must name a file column ({', '.join(FILE_COLUMNS)}) "
            f"and a label column ({', '.join(LABEL_COLUMNS)})"
        )
    root = folder.resolve()
    files: list[Path] = []
    labels: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{table}:{line}: {len(row)} cells, but the header has {len(header)}")
        name = row[file_col].strip()
        image = (folder / name).resolve()
        if Path(name).is_absolute() or not image.is_relative_to(root):
            raise DataError(f"{table}:{line}: {shown(name)} is outside the folder; list files relative to it")
        if not image.is_file():
            raise DataError(f"{table}:{line}: no image file {shown(name)} in {folder}")
        files.append(folder / name)
        labels.append(row[label_col].strip())
    return files, labels


def _stack(source: Path, files: list[Path], params: PreprocessParams) -> np.ndarray:
    arrays = [params.read_image(p) for p in files]
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise DataError(
            f"{source}: images have different sizes {shapes[:3]} (C, H, W); give them one size "
            "with the preprocessing contract (size, or resize and crop)"
        )
    return np.stack(arrays)
