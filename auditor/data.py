"""Input data: .npz / .npy / .csv arrays and image files, read into one Dataset."""

from __future__ import annotations

import csv
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.lib.npyio import NpzFile
from PIL import Image, UnidentifiedImageError

from auditor.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
LABEL_COLUMNS = ("label", "target", "y", "class")
MAX_IMAGE_PIXELS = 64_000_000
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

    @property
    def ref(self) -> np.ndarray:
        return self.x if self.reference is None else self.reference

    def __len__(self) -> int:
        return len(self.x)


def load_data(path: str | os.PathLike[str], preprocess: Preprocess | None = None) -> Dataset:
    """Read a data file or an image folder; raise DataError with one line when it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file or folder; check the path")
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
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES


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
    if y is not None:
        y = _labels(path, y, len(x))
    if ref is not None and ref.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{path}: 'X_reference' rows {list(ref.shape[1:])} differ from 'X' rows {list(x.shape[1:])}"
        )
    return Dataset(x, y, features, classes, ref)


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
        raise DataError(f"{path}: labels 'y' must be {n} integer class indices")
    return y.astype(np.int64)


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
    try:
        values = np.array([[float(v) for v in row] for row in body], dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: every CSV cell must be a number (encode categories as numbers)") from None
    y = None
    if label_col is not None:
        y = _labels(path, values[:, label_col], len(values))
        values = np.delete(values, label_col, axis=1)
        del header[label_col]
    if not header:
        raise DataError(f"{path}: the CSV has no feature columns besides the label")
    return Dataset(values.astype(np.float32), y, tuple(header))


def _load_images(path: Path, pre: Preprocess) -> Dataset:
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    )
    if not files:
        raise DataError(f"{path}: no image files (.png, .jpg, ...) found")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    arrays = [_read_image(p, pre) for p in files]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(
            f"{path}: images have different sizes {sorted(shapes)[:3]}; resize them to one size (in an audit: [preprocess] size)"
        )
    return Dataset(np.stack(arrays), feature_names=tuple(p.name for p in files))


def _read_image(path: Path, pre: Preprocess) -> np.ndarray:
    bomb = (Image.DecompressionBombError, Image.DecompressionBombWarning)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "error", Image.DecompressionBombWarning
            )  # over MAX_IMAGE_PIXELS: refused, not warned
            with Image.open(path) as stored:
                image = stored.convert(pre.mode)
                if pre.size is not None:
                    image = image.resize((pre.size[1], pre.size[0]), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.float32)
    except (OSError, UnidentifiedImageError, ValueError, *bomb) as exc:
        raise DataError(f"{path}: cannot read the image ({_brief(exc)})") from None
    low, high = pre.scale
    pixels = low + pixels / 255.0 * (high - low)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
