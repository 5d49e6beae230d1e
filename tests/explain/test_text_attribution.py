"""Word attributions on a linear bag of words (known answers) and on an Optimum-style graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from text_factory import CONTRIBUTION, WORDS, bag_of_words, bert_shaped, save, word_tokenizer

from auditor.explain.text import word_faithfulness, word_lime, word_occlusion
from auditor.model.text import TextModel

TEXT = "The movie was bad and the plot was awful, and boring"


@pytest.fixture()
def linear(tmp_path: Path) -> TextModel:
    vocab = word_tokenizer(tmp_path / "tokenizer.json", WORDS)
    weights = np.zeros((len(vocab), 2), np.float32)
    for word, value in CONTRIBUTION.items():
        weights[vocab[word], 1] = value
    weights[vocab["[MASK]"], 0] = 0.75  # masking is not deleting: the mask token has its own weight
    save(bag_of_words(weights, np.array([0.3, 0.0])), tmp_path / "model.onnx")
    return TextModel.open(tmp_path / "model.onnx")


def known(words: tuple[str, ...]) -> np.ndarray:
    return np.array([CONTRIBUTION.get(w.lower(), 0.0) for w in words])


def test_word_occlusion_equals_each_word_contribution(linear):
    result = word_occlusion(linear, TEXT, target=1, score="log_odds")
    assert result.words == (
        "The",
        "movie",
        "was",
        "bad",
        "and",
        "the",
        "plot",
        "was",
        "awful",
        ",",
        "and",
        "boring",
    )
    np.testing.assert_allclose(result.weights, known(result.words), atol=1e-5)
    assert result.queries == len(result.words) + 2 and result.calls == 1
    assert result.score_removed == pytest.approx(-0.3, abs=1e-5)  # the bias alone
    # masking adds the mask token's weight for logit 0: every word's weight drops by... its own plus 0.75
    masked = word_occlusion(linear, TEXT, target=1, score="log_odds", removal="mask")
    np.testing.assert_allclose(masked.weights, known(masked.words) + 0.75, atol=1e-5)


def test_lime_and_kernel_shap_recover_an_additive_model(linear):
    lime = word_lime(linear, TEXT, target=1, score="log_odds", samples=500, alpha=0.0, rng=1)
    np.testing.assert_allclose(lime.weights, known(lime.words), atol=1e-5)
    assert lime.fidelity == pytest.approx(1.0, abs=1e-9) and lime.calls == 1 and lime.queries == 500
    shap = word_lime(linear, TEXT, target=1, score="log_odds", samples=500, kernel="shap", rng=1)
    np.testing.assert_allclose(shap.weights, known(shap.words), atol=1e-4)
    assert shap.method == "kernel-shap"
    # the default ridge penalty shrinks the weights but keeps their order
    ridge = word_lime(linear, TEXT, target=1, score="log_odds", samples=500, rng=1)
    assert np.argmin(ridge.weights) == np.argmin(known(ridge.words))
    again = word_lime(linear, TEXT, target=1, score="log_odds", samples=500, rng=1)
    np.testing.assert_array_equal(ridge.weights, again.weights)


def test_deletion_in_attribution_order_beats_random_orders(linear):
    result = word_occlusion(linear, TEXT)  # the predicted class, 0, by probability
    assert result.target == 0 and result.target_name == "0"
    curves = word_faithfulness(linear, result, orders=5, rng=0)
    assert curves.deletion_auc < curves.random_deletion_auc
    assert curves.insertion_auc > curves.random_insertion_auc
    assert curves.fractions[0] == 0 and curves.fractions[-1] == 1 and len(curves.fractions) == 13
    assert curves.queries == 6 * 2 * 13 and curves.calls == 1
    record = result.to_dict()
    assert record["shape"] == [12] and record["words"][3] == "bad" and record["spans"][3] == [14, 17]


def test_optimum_shaped_graph_attributes(tmp_path):
    vocab = word_tokenizer(tmp_path / "tokenizer.json", WORDS)
    save(bert_shaped(len(vocab), k=3), tmp_path / "model.onnx")
    model = TextModel.open(tmp_path / "model.onnx")
    occlusion = word_occlusion(model, "the movie was great")
    lime = word_lime(model, "the movie was great", samples=200)
    assert occlusion.words == lime.words == ("the", "movie", "was", "great")
    assert np.isfinite(occlusion.weights).all() and np.isfinite(lime.weights).all()
    # a word's occlusion weight is exactly p(text) - p(text without that word)
    without = model.predict(["movie was great", "the was great"])[:, occlusion.target]
    np.testing.assert_allclose(occlusion.weights[[0, 2 - 1]], occlusion.score_input - without, atol=1e-6)
