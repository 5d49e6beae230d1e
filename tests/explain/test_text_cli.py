"""The text forms of `attribute`, `counterfactual`, `exemplars` and `inspect`: known answers on a linear bag of
words, the sample's models, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from text_factory import CONTRIBUTION, WORDS, bag_of_words, bert_shaped, hf_config, save, word_tokenizer

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_models" / "text"
TEXTS = [
    "The movie was bad and the plot was awful, and boring",
    "the movie was good",
    "<script>alert(1)</script>",
]


def _run(*args: str) -> int:
    """One command in-process on the CPU with a fixed batch, no sandbox child; returns the exit code."""
    flags = ["--device", "cpu", "--batch-size", "256", "--threads", "1", "--quiet", "--trust-model"]
    with pytest.raises(SystemExit) as stop:
        main([*args, *flags])
    return int(stop.value.code)


@pytest.fixture()
def linear(tmp_path: Path) -> Path:
    """A two-class bag of words (logit 1 - logit 0 = sum of the words' contributions), its tokenizer and
    class names beside it, and texts in a .jsonl."""
    vocab = word_tokenizer(tmp_path / "tokenizer.json", WORDS)
    weights = np.zeros((len(vocab), 2), np.float32)
    for word, value in CONTRIBUTION.items():
        weights[vocab[word], 1] = value
    save(bag_of_words(weights, np.array([0.3, 0.0])), tmp_path / "model.onnx")
    hf_config(tmp_path / "config.json", ["negative", "positive"])
    lines = [
        json.dumps({"text": t, "label": "positive" if i == 1 else "negative"}) for i, t in enumerate(TEXTS)
    ]
    (tmp_path / "texts.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_attribute_text_occlusion_is_each_words_contribution(linear, tmp_path):
    out = tmp_path / "out"
    code = _run(
        "attribute", str(linear / "model.onnx"), "--input", str(linear / "texts.jsonl"), "--index", "0",
        "--target", "positive", "--score", "log-odds", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    doc = json.loads((out / "attribution.json").read_text())
    expected = [CONTRIBUTION.get(word.lower(), 0.0) for word in doc["words"]]
    np.testing.assert_allclose(doc["map"], expected, atol=1e-4)
    assert doc["target_name"] == "positive" and doc["removal"] == "delete" and doc["label"] == 0
    assert {"deletion_auc", "insertion_auc", "random_deletion_auc", "spans", "text"} <= set(doc)


def test_attribute_text_lime_mask_removal_and_txt(linear, tmp_path):
    (tmp_path / "one.txt").write_text(TEXTS[0] + "\n")
    out = tmp_path / "out"
    code = _run(
        "attribute", str(linear / "model.onnx"), "--input", str(tmp_path / "one.txt"), "--method", "lime",
        "--removal", "unk", "--samples", "400", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    doc = json.loads((out / "attribution.json").read_text())
    assert doc["method"] == "lime" and doc["removal"] == "unk" and doc["queries"] == 400
    worst = doc["words"][int(np.argmax(doc["map"]))]  # the predicted class is negative: awful helps it most
    assert worst == "awful"


def test_attribute_text_refuses_image_methods(linear, tmp_path, capsys):
    code = _run(
        "attribute", str(linear / "model.onnx"), "--input", str(linear / "texts.jsonl"), "--method",
        "feature-ablation", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2
    assert "does not apply to text models" in capsys.readouterr().err
    code = _run(
        "attribute", str(linear / "model.onnx"), "--input", str(linear / "texts.jsonl"), "--score", "raw",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2 and "score 'raw' is not available for text models" in capsys.readouterr().err


def test_counterfactual_text_flips_with_fewest_edits(linear, tmp_path):
    # "the movie was good": log-odds 1.0 - 0.3 = 0.7 > 0 -> positive; deleting "good" alone flips it
    out = tmp_path / "out"
    code = _run(
        "counterfactual", str(linear / "model.onnx"), "--input", str(linear / "texts.jsonl"), "--index", "1",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0
    (entry,) = json.loads((out / "counterfactuals.json").read_text())["counterfactuals"]
    assert entry["valid"] and entry["changed"] == 1 and entry["edits"][0]["old"] == "good"
    assert entry["source_name"] == "positive" and entry["target_name"] == "negative"


def test_inspect_names_kind_and_tokenizer(linear, capsys):
    assert _run("inspect", str(linear / "model.onnx")) == 0
    shown = capsys.readouterr().out
    assert "text kind    optimum" in shown and "tokenizer.json (WordLevel" in shown
    assert "classes      2: negative, positive" in shown
    assert _run("inspect", str(SAMPLE / "tfidf.onnx"), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["text"]["kind"] == "strings" and info["text"]["tokenizer"] is None


def test_inspect_without_tokenizer_names_the_flag(tmp_path, capsys):
    save(bert_shaped(30), tmp_path / "bert.onnx")
    assert _run("inspect", str(tmp_path / "bert.onnx")) == 0
    assert "give its tokenizer.json with --tokenizer" in capsys.readouterr().out
    word_tokenizer(tmp_path / "words.json", WORDS)
    assert _run("inspect", str(tmp_path / "bert.onnx"), "--tokenizer", str(tmp_path / "words.json")) == 0
    assert (
        "text kind    optimum (inputs input_ids, attention_mask, token_type_ids)" in capsys.readouterr().out
    )


def test_token_id_model_needs_max_length(tmp_path, capsys):
    """One int input of any length: --max-length settles the padded length, and the hint names the flag."""
    vocab = word_tokenizer(tmp_path / "tokenizer.json", WORDS)
    weights = np.zeros((len(vocab), 2), np.float32)
    for word, value in CONTRIBUTION.items():
        weights[vocab[word], 1] = value
    save(
        bag_of_words(weights, np.array([0.3, 0.0]), attention=False, input_name="ids"), tmp_path / "ids.onnx"
    )
    (tmp_path / "t.txt").write_text("the movie was good\n")
    out = tmp_path / "out"
    args = ("attribute", str(tmp_path / "ids.onnx"), "--input", str(tmp_path / "t.txt"), "--out", str(out))
    assert _run(*args) == 2
    assert "--max-length" in capsys.readouterr().err
    assert _run(*args, "--max-length", "16") == 0


def test_unknown_extra_input_is_refused_in_one_line(tmp_path, capsys):
    save(bert_shaped(30, extra="pixel_values"), tmp_path / "odd.onnx")
    word_tokenizer(tmp_path / "tokenizer.json", WORDS)
    (tmp_path / "t.txt").write_text("good movie\n")
    code = _run(
        "attribute",
        str(tmp_path / "odd.onnx"),
        "--input",
        str(tmp_path / "t.txt"),
        "--out",
        str(tmp_path / "o"),
    )
    err = capsys.readouterr().err
    assert code == 2 and "'pixel_values' is not one of them" in err and len(err.strip().splitlines()) == 1


def test_exemplars_text_sample_reaches_every_class(tmp_path):
    out = tmp_path / "out"
    code = _run(
        "exemplars", str(SAMPLE / "classifier.onnx"), "--generator", str(SAMPLE / "generator.onnx"),
        "--threshold", "0.9", "--budget", "2000", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    doc = json.loads((out / "exemplars.json").read_text())
    assert sorted(e["target_name"] for e in doc["exemplars"]) == ["linux", "love", "sports"]
    assert all(e["success"] and isinstance(e["text"], str) and e["text"] for e in doc["exemplars"])


def test_counterfactual_text_within_a_budget_below_one_greedy_batch(linear, tmp_path):
    """4 words x 200 substitutes do not fit 20 queries: the greedy step tries deletions first and still flips."""
    out = tmp_path / "out"
    code = _run(
        "counterfactual", str(linear / "model.onnx"), "--input", str(linear / "texts.jsonl"), "--index", "1",
        "--budget", "20", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    (entry,) = json.loads((out / "counterfactuals.json").read_text())["counterfactuals"]
    assert entry["valid"] and entry["edits"] == [{"position": 3, "old": "good", "new": ""}]
    assert entry["queries"] <= 20
