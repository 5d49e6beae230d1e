"""Text data files: .txt, .csv and .jsonl, labels as names or indices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from auditor.errors import DataError
from auditor.texts import load_texts

NAMES = ("negative", "positive")


def test_txt_holds_one_text_a_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\n\nsecond, with <script>alert(1)</script>\n", encoding="utf-8")
    data = load_texts(path)
    assert data.texts == ("first text", "second, with <script>alert(1)</script>")
    assert data.labels is None
    with pytest.raises(DataError, match="no labels"):
        data.label_indices(NAMES)


def test_csv_with_text_and_label_names_or_indices(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text(
        'id,review,label\n1,"good, really good",positive\n2,awful,0\n3,fine,1\n', encoding="utf-8"
    )
    data = load_texts(path)
    assert data.texts == ("good, really good", "awful", "fine")
    np.testing.assert_array_equal(data.label_indices(NAMES), [1, 0, 1])


def test_jsonl_with_named_columns(tmp_path):
    path = tmp_path / "texts.jsonl"
    rows = [{"sentence": "héllo", "category": 1}, {"sentence": "bye", "category": "negative"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    data = load_texts(path)
    assert data.texts == ("héllo", "bye")
    np.testing.assert_array_equal(data.label_indices(NAMES), [1, 0])
    chosen = load_texts(path, text_column="sentence", label_column="category")
    assert chosen.labels == ("1", "negative")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"text": "a"}\nnot json\n', "line 2 is not JSON"),
        ("a.jsonl", '{"text": 3}\n', "example 1 has no text"),
        ("a.csv", "title,label\nx,1\n", "no text column"),
        ("a.csv", "text,label\nx\n", "row 2 has 1 cells"),
        ("a.txt", "\n\n", "holds no texts"),
        ("a.md", "x", "unknown text format"),
    ],
)
def test_bad_files_are_one_clear_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        load_texts(path)
    assert "\n" not in str(caught.value)


def test_unknown_labels_name_the_example(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text,label\na,positive\nb,neutral\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"label 'neutral' \(example 2\)"):
        load_texts(path).label_indices(NAMES)
    path.write_text("text,label\na,7\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"class index 0\.\.1"):
        load_texts(path).label_indices(NAMES)


def test_not_utf8_is_refused(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_texts(path)
