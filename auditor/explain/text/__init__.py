"""Explanations of text classifiers over words: attributions, counterfactual edits, exemplar sentences."""

from __future__ import annotations

from auditor.explain.text.attribution import (
    KERNELS,
    WORD_METHODS,
    WordAttribution,
    text_coalitions,
    word_attribution,
    word_faithfulness,
    word_lime,
    word_occlusion,
)
from auditor.explain.text.counterfactuals import (
    WordCounterfactual,
    WordEdit,
    WordEditParams,
    corpus_vocabulary,
    word_counterfactual,
    word_distance,
)
from auditor.explain.text.exemplars import TextExemplars, text_exemplars

__all__ = [
    "KERNELS",
    "WORD_METHODS",
    "TextExemplars",
    "WordAttribution",
    "WordCounterfactual",
    "WordEdit",
    "WordEditParams",
    "corpus_vocabulary",
    "text_coalitions",
    "text_exemplars",
    "word_attribution",
    "word_counterfactual",
    "word_distance",
    "word_faithfulness",
    "word_lime",
    "word_occlusion",
]
