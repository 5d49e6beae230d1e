"""Word counterfactuals on a linear bag of words, where the fewest edits are known in closed form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from text_factory import bag_of_words, save, word_tokenizer

from auditor.errors import ArgumentError
from auditor.explain.text import WordEditParams, corpus_vocabulary, word_counterfactual, word_distance
from auditor.model.text import TextModel

#: Each word's contribution to the log-odds of class 1 ("positive").
CONTRIBUTION = {
    "good": 1.0,
    "great": 2.0,
    "superb": 3.0,
    "fine": 0.5,
    "bad": -1.5,
    "awful": -2.5,
    "boring": -1.0,
    "dull": -0.75,
}
FILLER = ["the", "movie", "was", "and", "plot", "acting", "music", "ending", "a", "with"]
CORPUS = [
    "the movie was good and great",
    "superb acting, fine music",
    "a dull plot",
    "bad awful boring ending",
]


@pytest.fixture()
def linear(tmp_path: Path) -> TextModel:
    vocab = word_tokenizer(tmp_path / "tokenizer.json", [*CONTRIBUTION, *FILLER])
    weights = np.zeros((len(vocab), 2), np.float32)
    for word, value in CONTRIBUTION.items():
        weights[vocab[word], 1] = value
    save(bag_of_words(weights, np.array([0.0, 0.2])), tmp_path / "model.onnx")
    return TextModel.open(tmp_path / "model.onnx")


def fewest_edits(words: list[str], substitutes: list[str], deletion: bool = True) -> int:
    """Edits needed to make the log-odds positive: each edit's gain is independent of the others, so the
    k best gains (the best replacement at each position) decide."""
    log_odds = 0.2 + sum(CONTRIBUTION.get(w, 0.0) for w in words)
    best_new = max([CONTRIBUTION.get(w, 0.0) for w in substitutes] + ([0.0] if deletion else []))
    gains = sorted((best_new - CONTRIBUTION.get(w, 0.0) for w in words), reverse=True)
    for k, total in enumerate(np.cumsum(gains), start=1):
        if log_odds + total > 0:
            return k
    raise AssertionError("no number of edits flips this text")


@pytest.mark.parametrize(
    "text",
    [
        "the movie was bad and the plot was awful and boring",
        "a dull plot , bad acting , awful music and a boring ending",
        "bad bad bad awful",
    ],
)
def test_flips_with_the_analytically_fewest_substitutions(linear, text):
    vocabulary = corpus_vocabulary(CORPUS)
    result = word_counterfactual(linear, text, target=1, vocabulary=vocabulary, rng=0)
    assert result.valid and result.stop_reason == "flipped"
    assert len(result.edits) == fewest_edits(text.split(), list(vocabulary)) == result.edit_distance
    assert result.source == 0 and result.target == 1 and result.confidence > 0.5
    assert result.queries <= 20_000
    for edit in result.edits:
        assert result.marked.count(f"[-{edit.old}-]") >= 1
        assert text.split()[edit.position] == edit.old


def test_deletions_alone_when_there_is_no_vocabulary(linear):
    text = "the acting was superb but the plot was bad and dull"
    assert linear.predict([text])[0].argmax() == 1
    result = word_counterfactual(linear, text, target=0, rng=0)
    assert result.valid and [e.new for e in result.edits] == [""]
    assert result.edits[0].old == "superb" and result.marked.count("[-superb-]") == 1
    assert "superb" not in result.edited


def test_same_seed_same_result_and_budget_is_kept(linear):
    text = "a dull plot , bad acting , awful music and a boring ending"
    vocabulary = corpus_vocabulary(CORPUS)
    params = WordEditParams(budget=300, positions=4, batch=64)
    first = word_counterfactual(linear, text, target="second", vocabulary=vocabulary, params=params, rng=3)
    again = word_counterfactual(linear, text, target="second", vocabulary=vocabulary, params=params, rng=3)
    assert first.to_dict() | {"seconds": 0} == again.to_dict() | {"seconds": 0}
    assert first.queries <= 300


def test_bad_arguments_are_one_line(linear):
    with pytest.raises(ArgumentError, match="already predicted"):
        word_counterfactual(linear, "bad movie", target=0)
    with pytest.raises(ArgumentError, match="no edit is possible"):
        word_counterfactual(linear, "bad movie", target=1, params=WordEditParams(deletion=False))
    with pytest.raises(ArgumentError, match="budget"):
        WordEditParams(budget=0)


def test_word_distance():
    assert word_distance(["a", "b", "c"], ["a", "c"]) == 1
    assert word_distance(["a", "b", "c"], ["A", "x", "c"]) == 1
    assert word_distance([], ["a", "b"]) == 2
