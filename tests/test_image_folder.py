"""Data as users hold it: image folders with class sub-folders or a labels.csv, and labels written as names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditor.data import Preprocess, load_data
from auditor.errors import DataError
from auditor.image_folder import read_images
from auditor.preprocessing import PreprocessParams

NAMES = ("cat", "dog", "eel")


def write_image(path: Path, value: int, size: tuple[int, int] = (6, 4)) -> None:
    """An RGB image (width, height) = size whose red channel is `value` everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[..., 0] = value
    Image.fromarray(pixels).save(path)


def test_class_sub_folders_give_labels_as_names(tmp_path: Path) -> None:
    for i, (label, value) in enumerate([("dog", 10), ("cat", 20), ("dog", 30), ("eel", 40)]):
        write_image(tmp_path / label / f"{i}.png", value)
    data = load_data(tmp_path, PreprocessParams())
    assert data.y is None and data.label_text.tolist() == ["cat", "dog", "dog", "eel"]  # sorted by folder
    assert data.x.shape == (4, 3, 4, 6) and data.x.max() == 40  # pixel space: 0-255, channels first
    assert data.x[:, 0, 0, 0].tolist() == [20, 10, 30, 40]
    assert data.feature_names == ("cat/1.png", "dog/0.png", "dog/2.png", "eel/3.png")
    named = data.with_class_names(NAMES, str(tmp_path))
    assert named.y.tolist() == [0, 1, 1, 2] and named.label_text is None
    assert load_data(tmp_path, PreprocessParams(), class_names=("eel", "dog", "cat")).y.tolist() == [
        2,
        1,
        1,
        0,
    ]


def test_a_label_the_model_does_not_know_is_one_line_naming_it(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.png", 1)
    write_image(tmp_path / "gnu" / "b.png", 2)
    with pytest.raises(
        DataError, match=r"label 'gnu' is not a class of the model \(classes: 'cat', 'dog', 'eel'\)"
    ):
        load_data(tmp_path, PreprocessParams(), class_names=NAMES)


def test_labels_csv_lists_files_and_labels(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 5)
    write_image(tmp_path / "sub" / "b.png", 6)
    (tmp_path / "labels.csv").write_text("file,label\nsub/b.png,eel\na.png,0\n", encoding="utf-8")
    data = load_data(tmp_path, PreprocessParams(), class_names=NAMES)
    assert data.y.tolist() == [2, 0] and data.x[:, 0, 0, 0].tolist() == [6, 5]  # the CSV's order


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("file,label\n../outside.png,cat\n", "outside the folder"),
        ("file,label\nmissing.png,cat\n", "no image file 'missing.png'"),
        ("name,label\na.png,cat\n", "must name a file column"),
        ("file,label\na.png\n", ":2: 1 cells"),
    ],
)
def test_bad_labels_csv_is_one_line(tmp_path: Path, table: str, message: str) -> None:
    folder = tmp_path / "data"
    write_image(folder / "a.png", 5)
    write_image(tmp_path / "outside.png", 5)
    (folder / "labels.csv").write_text(table, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_data(folder, PreprocessParams())


def test_images_beside_class_folders_are_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 1)
    write_image(tmp_path / "cat" / "b.png", 2)
    with pytest.raises(DataError, match="holds images and also class sub-folders"):
        load_data(tmp_path, PreprocessParams())


def test_a_flat_folder_has_no_labels_as_before(tmp_path: Path) -> None:
    write_image(tmp_path / "b.png", 255)
    write_image(tmp_path / "a.png", 0)
    data = load_data(tmp_path, Preprocess(mode="L", scale=(-1.0, 1.0)))  # the legacy contract scales at once
    assert data.label_text is None and data.y is None and data.x.shape == (2, 1, 4, 6)
    grey = np.array([0, 255]) * 0.299  # PIL's L = 0.299 R + ...
    np.testing.assert_allclose(data.x[:, 0, 0, 0], -1 + np.round(grey) / 255 * 2, atol=1e-6)


def test_npz_labels_as_names_map_through_the_class_names(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array(["dog", "cat", "dog"]))
    data = load_data(path)
    assert data.y is None and data.label_text.tolist() == ["dog", "cat", "dog"]
    assert load_data(path, class_names=NAMES).y.tolist() == [1, 0, 1]


def test_csv_labels_as_names(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,eel\n3,4,cat\n", encoding="utf-8")
    data = load_data(path, class_names=NAMES)
    assert data.y.tolist() == [2, 0] and data.x.tolist() == [[1, 2], [3, 4]]
    path.write_text("a,label\n1,1\n3,0\n", encoding="utf-8")
    assert load_data(path).y.tolist() == [1, 0]  # numbers stay class indices


def test_shorter_side_resize_keeps_the_aspect_and_the_crop_is_central(tmp_path: Path) -> None:
    wide = np.zeros((200, 300, 3), np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    images = read_images(tmp_path / "wide.png", PreprocessParams(resize=100))
    assert images.pixels.shape == (1, 3, 100, 150)
    pixels = np.arange(7 * 9, dtype=np.uint8).reshape(7, 9)  # grey, value = 9 * row + column
    Image.fromarray(pixels).save(tmp_path / "grid.png")
    cropped = read_images(tmp_path / "grid.png", PreprocessParams(mode="L", crop=(3, 5))).pixels[0, 0]
    np.testing.assert_array_equal(cropped, pixels[2:5, 2:7])  # top (7-3)//2 = 2, left (9-5)//2 = 2
    with pytest.raises(DataError, match="smaller than the crop 8×5"):
        read_images(tmp_path / "grid.png", PreprocessParams(mode="L", crop=(8, 5)))


def test_different_sizes_without_a_contract_size_are_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 1, (6, 4))
    write_image(tmp_path / "b.png", 1, (5, 4))
    with pytest.raises(DataError, match="images have different sizes"):
        load_data(tmp_path, PreprocessParams())
    assert load_data(tmp_path, PreprocessParams(size=(4, 4))).x.shape == (2, 3, 4, 4)
