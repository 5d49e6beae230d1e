"""load_data turns every malformed file into one DataError line, never a stray exception."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import auditor.preprocessing
from auditor.data import load_data
from auditor.errors import DataError


def test_npz_reads_x_y_names_and_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    path = tmp_path / "d.npz"
    np.savez(path, X=x, y=np.arange(5) % 2, class_names=np.array("only"), X_reference=x[:2])
    data = load_data(path)
    np.testing.assert_allclose(data.x, x.astype(np.float32))
    assert data.y.tolist() == [0, 1, 0, 1, 0]
    assert data.class_names == ("only",)  # a 0-d names array is one name
    assert data.ref.shape == (2, 3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.npz", b"PK\x03\x04" + b"garbage" * 20, "cannot read"),
        ("ragged.csv", b"a,b\n1,2\n3\n", "columns like the header"),
        ("blank.csv", b"a,b\n\n\n", "at least one data row"),
        ("label.csv", b"label\n1\n0\n", "no feature columns"),
        ("text.csv", b"a,b\n1,x\n", "must be a number"),
    ],
)
def test_malformed_files_raise_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_data(path)


def test_damaged_npz_member_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(4000, dtype=np.float64).reshape(1000, 4))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flips one byte of X's data: the CRC check fails on reading X
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="cannot read"):
        load_data(path)


def test_reference_rows_must_match_x(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 4)), X_reference=np.zeros((3, 5)))
    with pytest.raises(DataError, match="X_reference"):
        load_data(path)


def test_an_image_over_the_pixel_cap_is_refused_not_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        auditor.preprocessing, "MAX_IMAGE_PIXELS", 300
    )  # 20x20 = 400: PIL's warning zone (cap..2 x cap)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    Image.new("L", (20, 20)).save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"big\.png: cannot read the image"):
            load_data(tmp_path / "big.png")
