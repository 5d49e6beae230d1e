"""TextModel: Optimum-style exports, plain token-id models and string pipelines, loaded and run through ONNX Runtime."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("tokenizers")

from text_factory import bag_of_words, bert_shaped, hf_config, save, word_tokenizer

from auditor.errors import ArgumentError, ConventionError, DataError, ModelError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.text import TextModel

WORDS = ["good", "bad", "movie", "plot", "great", "awful", "the", "was", "and"]
TEXT_SAMPLE = Path(__file__).resolve().parents[2] / "sample_models" / "text"


@pytest.fixture()
def folder(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    return tmp_path, word_tokenizer(tmp_path / "tokenizer.json", WORDS)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_bag_of_words_probabilities_equal_the_analytic_softmax(folder):
    path, vocab = folder
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 1, (len(vocab), 3)).astype(np.float32)
    bias = np.array([0.1, -0.2, 0.3], np.float32)
    save(bag_of_words(weights, bias), path / "bow.onnx")
    model = TextModel.open(path / "bow.onnx")
    texts = ["Good movie", "the plot was awful, and bad", "great", ""]
    expected = []
    for text in texts:
        ids = [vocab["[CLS]"]] + [
            vocab.get(w, vocab["[UNK]"]) for w in text.lower().replace(",", " ,").split()
        ]
        ids.append(vocab["[SEP]"])
        expected.append(weights[ids].sum(axis=0) + bias)
    assert model.kind == "optimum" and model.length is None
    np.testing.assert_allclose(model.predict(texts), softmax(np.array(expected)), atol=1e-6)
    assert model.queries == 4 and model.calls == 1


def test_rows_of_different_lengths_score_as_they_would_alone(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab)), path / "model.onnx")
    model = TextModel.open(path / "model.onnx")
    texts = ["good", "the movie was good and the plot was great", "bad plot"]
    together = model.predict(texts)
    alone = np.vstack([model.predict([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_optimum_export_with_three_inputs_and_id2label(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab), k=3), path / "model.onnx")
    hf_config(path / "config.json", ["negative", "neutral", "positive"])
    model = TextModel.open(path / "model.onnx")
    described = model.describe()
    assert described["kind"] == "optimum"
    assert described["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert (
        described["tokenizer"]["model"] == "WordLevel"
        and described["tokenizer"]["mask_id"] == vocab["[MASK]"]
    )
    assert model.class_names == ("negative", "neutral", "positive")
    probs = model.predict(["good movie"] * 5)
    assert probs.shape == (5, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_id2label_that_does_not_fit_is_refused(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab), k=3), path / "model.onnx")
    hf_config(path / "config.json", ["negative", "positive"])
    with pytest.raises(ConventionError, match="id2label names 2 classes but the model has 3"):
        TextModel.open(path / "model.onnx")


def test_unknown_extra_inputs_are_refused_with_one_line(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab), extra="position_ids"), path / "model.onnx")
    for opener in (TextModel.open, BlackBox.open):
        with pytest.raises(ConventionError, match="'position_ids' is not one of them") as caught:
            opener(path / "model.onnx")
        assert "\n" not in str(caught.value)


def test_token_model_without_tokenizer_names_the_flag(tmp_path):
    save(bert_shaped(20), tmp_path / "model.onnx")
    with pytest.raises(ConventionError, match="--tokenizer"):
        TextModel.open(tmp_path / "model.onnx")


def test_plain_token_ids_need_a_length_then_pad_to_it(folder):
    path, vocab = folder
    weights = np.zeros((len(vocab), 2), np.float32)
    weights[vocab["good"], 1] = 2.0
    weights[vocab["[PAD]"], 0] = 0.25  # a model that sees its padding: the length matters
    save(bag_of_words(weights, np.zeros(2), attention=False), path / "plain.onnx")
    logits = OpenOptions(scores="logits")  # mostly-zero weights: probe rows cannot tell logits apart
    with pytest.raises(ConventionError, match="--max-length"):
        TextModel.open(path / "plain.onnx", options=logits)
    model = TextModel.open(path / "plain.onnx", max_length=6, options=logits)
    assert model.kind == "token_ids" and model.length == 6
    # "[CLS] good [SEP]" + 3 pads: logit0 = 0.75, logit1 = 2
    np.testing.assert_allclose(model.predict(["good"])[0], softmax(np.array([[0.75, 2.0]]))[0], atol=1e-6)


def test_word_segments_and_kept_words_match_the_edited_text(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab)), path / "model.onnx")
    model = TextModel.open(path / "model.onnx")
    segmented = model.segment("The movie, was GOOD")
    assert segmented.words == ("The", "movie", ",", "was", "GOOD")
    assert [segmented.text[a:b] for a, b in segmented.spans] == list(segmented.words)
    keep = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0]], bool)
    np.testing.assert_allclose(
        model.predict_kept(segmented, keep, "delete"),
        model.predict(["The movie, was GOOD", "The , GOOD", ""]),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        model.predict_kept(segmented, keep[1:2], "mask"),
        model.predict(["The [MASK] , [MASK] GOOD"]),
        atol=1e-6,
    )
    with pytest.raises(ArgumentError, match="removal"):
        model.predict_kept(segmented, keep, "blank")


def test_thousands_of_texts_go_in_few_calls(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab)), path / "model.onnx")
    model = TextModel.open(path / "model.onnx")
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(5000)]
    probs = model.predict(texts)
    assert probs.shape == (5000, 3) and np.isfinite(probs).all()
    assert model.queries == 5000 and model.calls <= 2


def test_non_strings_are_refused(folder):
    path, vocab = folder
    save(bert_shaped(len(vocab)), path / "model.onnx")
    model = TextModel.open(path / "model.onnx")
    with pytest.raises(ArgumentError, match="list of texts"):
        model.predict("good movie")
    with pytest.raises(ArgumentError, match="strings"):
        model.predict([b"good"])  # type: ignore[list-item]


def test_unreadable_tokenizer_is_one_line(tmp_path):
    save(bert_shaped(20), tmp_path / "model.onnx")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match=r"not a readable tokenizer\.json"):
        TextModel.open(tmp_path / "model.onnx")


@pytest.fixture()
def tfidf() -> Path:
    path = TEXT_SAMPLE / "tfidf.onnx"
    if not path.exists():
        pytest.skip("sample_models/text is not built")
    return path


def test_string_pipeline_reads_texts_and_class_names(tfidf):
    model = TextModel.open(tfidf)
    assert model.kind == "strings" and model.tokenizer is None
    assert model.class_names == ("linux", "love", "sports")
    probs = model.predict(["The Linux kernel crashed again.", "Love is all you need.", "He hit a home run."])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(probs.argmax(axis=1), [0, 1, 2])
    segmented = model.segment("Chocolate cake, please")
    assert segmented.words == ("Chocolate", "cake", ",", "please")
    keep = np.array([[0, 1, 1, 1]], bool)
    np.testing.assert_allclose(
        model.predict_kept(segmented, keep), model.predict(["cake, please"]), atol=1e-6
    )


def test_string_pipeline_that_needs_a_missing_locale_is_one_clear_line(tfidf, tmp_path):
    proto = onnx.load(tfidf)
    for node in proto.graph.node:
        if node.op_type == "StringNormalizer":
            for attribute in node.attribute:
                if attribute.name == "locale":
                    attribute.s = b"xx_YY.UTF-8"
    onnx.save(proto, tmp_path / "tfidf.onnx")
    shutil.copy(TEXT_SAMPLE / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelError, match=r"needs the locale xx_YY\.UTF-8") as caught:
        TextModel.open(tmp_path / "tfidf.onnx")
    assert "\n" not in str(caught.value) and "C.UTF-8" in str(caught.value)
