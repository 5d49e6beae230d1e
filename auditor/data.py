"""Input data: .npz / .npy / .csv arrays and image files, read into one Dataset."""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.lib.npyio import NpzFile

from auditor.errors import DataError
from auditor.image_folder import is_image_file, read_images
from auditor.labels import LABEL_COLUMNS, label_indices
from auditor.preprocessing import PreprocessParams

Loaded = TypeVar("Loaded", np.ndarray, NpzFile)


@dataclass(frozen=True)
class Preprocess:
    """How image files become model inputs: resize, colour mode, value range."""

    size: tuple[int, int] | None = None  # (height, width)
    mode: str = "RGB"  # PIL mode: "L" (grey) or "RGB"
    scale: tuple[float, float] = (0.0, 1.0)  # pixel 0 -> scale[0], 255 -> scale[1]


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    reference: np.ndarray | None = None  # reference rows (ranges, MAD, realism); defaults to x
    label_text: np.ndarray | None = None  # labels written as text (names or indices), until mapped to y

    @property
    def ref(self) -> np.ndarray:
        return self.x if self.reference is None else self.reference

    def __len__(self) -> int:
        return len(self.x)

    def with_class_names(self, class_names: Sequence[str], source: str) -> Dataset:
        """Labels written as text mapped to class indices `y` through the model's class names (names, else indices).

        A label that is not a class of the model raises one DataError line naming it.
        """
        if self.label_text is None:
            return self
        return replace(self, y=label_indices(self.label_text, class_names, source), label_text=None)


def load_data(
    path: str | os.PathLike[str],
    preprocess: Preprocess | PreprocessParams | None = None,
    class_names: Sequence[str] | None = None,
) -> Dataset:
    """Read a data file or image files; raise DataError with one line when it cannot be used.

    Images (one file, a flat folder, class sub-folders, or a folder with a labels.csv) are read under
    a contract's file part and stay in pixel space (0-255), or under a legacy `Preprocess`, scaled at
    once. Labels written as names stay in `label_text` until mapped; with `class_names` they are
    mapped here (see `Dataset.with_class_names`).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file or folder; check the path")
    data = _read(path, preprocess)
    return data if class_names is None else data.with_class_names(class_names, str(path))


def _read(path: Path, preprocess: Preprocess | PreprocessParams | None) -> Dataset:
    if is_images(path):
        return _load_images(path, preprocess or Preprocess())
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".npy":
        return Dataset(_float_array(path, _np_load(path, np.ndarray)))
    if suffix == ".csv":
        return _load_csv(path)
    raise DataError(f"{path}: unknown data format '{suffix}'; use .npz, .npy, .csv or image files")


def is_images(path: str | os.PathLike[str]) -> bool:
    """Whether load_data reads this path as image files (a folder, or one image)."""
    path = Path(path)
    return path.is_dir() or is_image_file(path)


def _np_load(path: Path, kind: type[Loaded]) -> Loaded:
    """The array of a .npy file, or the lazily read archive of a .npz file, as `kind` says the suffix promises."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read ({_brief(exc)}); save arrays without pickles") from None
    if not isinstance(loaded, kind):
        found = "an .npz archive" if isinstance(loaded, NpzFile) else "a single .npy array"
        raise DataError(f"{path}: holds {found}, which its suffix does not say; rename the file")
    return loaded


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _load_npz(path: Path) -> Dataset:
    archive = _np_load(path, NpzFile)
    try:  # members are read lazily: a damaged one fails here, not in _np_load
        with archive:
            if "X" not in archive.files:
                raise DataError(
                    f"{path}: the .npz has no array 'X' (found {', '.join(archive.files) or 'nothing'})"
                )
            x = _float_array(path, archive["X"])
            y = archive["y"] if "y" in archive.files else None
            ref = _float_array(path, archive["X_reference"]) if "X_reference" in archive.files else None
            features = _names(archive, "feature_names")
            classes = _names(archive, "class_names")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read ({_brief(exc)}); save arrays without pickles") from None
    text = None
    if y is not None and np.asarray(y).dtype.kind in "US":
        text = _label_text(path, y, len(x))
        y = None
    elif y is not None:
        y = _labels(path, y, len(x))
    if ref is not None and ref.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{path}: 'X_reference' rows {list(ref.shape[1:])} differ from 'X' rows {list(x.shape[1:])}"
        )
    return Dataset(x, y, features, classes, ref, text)


def _names(archive: NpzFile, key: str) -> tuple[str, ...] | None:
    return tuple(str(v) for v in np.ravel(archive[key]).tolist()) if key in archive.files else None


def _float_array(path: Path, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "fiub" or array.ndim < 1:
        raise DataError(f"{path}: data must be a numeric array of rows, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if len(array) == 0:
        raise DataError(f"{path}: the data holds no rows")
    return np.ascontiguousarray(array, dtype=np.float32)


def _labels(path: Path, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n or (y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y)))):
        raise DataError(f"{path}: labels 'y' must be {n} integer class indices or class names")
    return y.astype(np.int64)


def _label_text(path: Path, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if len(y) != n:
        raise DataError(f"{path}: {len(y)} labels 'y' for {n} rows of 'X'")
    return y.astype(str)


def _load_csv(path: Path) -> Dataset:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV ({exc}); save it as UTF-8 with a header row") from None
    body = [row for row in rows[1:] if row]
    if not body:
        raise DataError(f"{path}: the CSV needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    label_col = next((i for i, h in enumerate(header) if h.lower() in LABEL_COLUMNS), None)
    if any(len(row) != len(header) for row in body):
        raise DataError(f"{path}: rows do not all have {len(header)} columns like the header")
    cells = np.array(body, dtype=str)
    y = text = None
    if label_col is not None:
        column = np.char.strip(cells[:, label_col])
        try:
            y = _labels(path, column.astype(np.float64), len(column))
        except ValueError:  # names, not numbers
            text = column
        cells = np.delete(cells, label_col, axis=1)
        del header[label_col]
    if not header:
        raise DataError(f"{path}: the CSV has no feature columns besides the label")
    try:
        values = cells.astype(np.float64)
    except ValueError:
        raise DataError(f"{path}: every CSV cell must be a number (encode categories as numbers)") from None
    return Dataset(values.astype(np.float32), y, tuple(header), label_text=text)


def _load_images(path: Path, pre: Preprocess | PreprocessParams) -> Dataset:
    """Pixel space (0-255) under a contract; a legacy Preprocess also scales to its [low, high] at once."""
    if isinstance(pre, PreprocessParams):
        images = read_images(path, pre)
        return Dataset(images.pixels, feature_names=images.files, label_text=images.labels)
    images = read_images(path, PreprocessParams(mode=pre.mode, size=pre.size))
    lo, hi = pre.scale
    x = lo + images.pixels / 255.0 * (hi - lo)
    return Dataset(x, feature_names=images.files, label_text=images.labels)
