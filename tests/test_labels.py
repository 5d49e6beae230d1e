"""Class names from the four file forms and from metadata text; labels and class choices as names or indices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx_factory import linear, save

from auditor.errors import ArgumentError, DataError
from auditor.labels import (
    class_index,
    class_indices,
    class_names_argument,
    label_indices,
    parse_names,
    read_class_names,
)
from auditor.model.blackbox import BlackBox

NAMES = ("python", "elf", "pdf", "zip")


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("names.txt", "python\nelf\npdf\nzip\n\n"),
        ("names.json", json.dumps(list(NAMES))),
        ("index.json", json.dumps({"2": "pdf", "0": "python", "3": "zip", "1": "elf"})),
        (
            "config.json",
            json.dumps({"architectures": ["X"], "id2label": {str(i): n for i, n in enumerate(NAMES)}}),
        ),
    ],
)
def test_each_file_form_gives_the_same_names(tmp_path: Path, filename: str, text: str) -> None:
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    assert read_class_names(path) == NAMES
    assert class_names_argument(str(path)) == NAMES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\n\nb\n", r":2: blank line"),
        ("a\nb\na\n", "'a' appears twice"),
        ('{"0": "a", "2": "b"}', "indices 0..K-1"),
        ("[1, 2", "not valid JSON"),
        ("\n\n", "no class names"),
    ],
)
def test_bad_names_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "names.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_class_names(path)


def test_the_flag_still_takes_comma_separated_names(tmp_path: Path) -> None:
    assert class_names_argument("cat, dog") == ("cat", "dog")


def test_metadata_text_forms() -> None:
    assert parse_names("0\n90\n180\n270") == ("0", "90", "180", "270")
    assert parse_names("{0: 'ant', 1: 'bee'}") == ("ant", "bee")
    assert parse_names('{"id2label": {"0": "NEG", "1": "POS"}}') == ("NEG", "POS")
    assert parse_names("a single line of text") is None  # not offered as one name


def test_a_character_property_is_offered_as_class_names(tmp_path: Path) -> None:
    w = np.eye(4, dtype=np.float32)
    proto = linear(w, np.zeros(4), metadata={"character": "0\n90\n180\n270"})
    bb = BlackBox.open(save(proto, tmp_path / "m.onnx"))
    assert bb.class_names == ("0", "90", "180", "270")


def test_classes_are_chosen_by_name_first_then_by_index() -> None:
    angles = ("0", "90", "180", "270")
    assert class_index("90", angles) == 1  # the name, not index 90
    assert class_index("3", angles) == 3
    assert class_indices("python,elf", NAMES) == (0, 1)
    assert class_indices("zip, 1, elf", NAMES) == (3, 1)  # repeats dropped, order kept
    assert class_indices("all", NAMES) == (0, 1, 2, 3)
    with pytest.raises(ArgumentError, match=r"'jpeg' is neither a class name nor an index 0\.\.3"):
        class_indices("python,jpeg", NAMES, "--classes")


def test_labels_map_through_names_or_indices_and_name_an_unknown_one() -> None:
    text = np.array(["elf", "zip", "0", "elf", "pdf"])
    assert label_indices(text, NAMES, "d.csv").tolist() == [1, 3, 0, 1, 2]
    assert label_indices(np.array([3, 0]), NAMES, "d.npz").tolist() == [3, 0]
    with pytest.raises(
        DataError, match=r"d.csv: label 'jpeg' is not a class of the model \(classes: 'python'"
    ):
        label_indices(np.array(["elf", "jpeg"]), NAMES, "d.csv")
    with pytest.raises(DataError, match="label 7 is not a class of the model"):
        label_indices(np.array([1, 7]), NAMES, "d.npz")
    with pytest.raises(DataError, match=r"label 'a\\x1b\[2J' is not"):  # untrusted text escaped
        label_indices(np.array(["a\x1b[2J"]), NAMES, "d.csv")
