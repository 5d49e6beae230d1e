"""Exemplar sentences of the text sample through its sentence decoder, by momentum ES and CMA-ES."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from auditor.explain.exemplars import ExemplarParams
from auditor.explain.text import text_exemplars
from auditor.model.text import TextModel
from auditor.model.text_generator import TextGenerator

TEXT = Path(__file__).resolve().parents[2] / "sample_models" / "text"


@pytest.fixture(scope="module")
def sample() -> tuple[TextModel, TextGenerator]:
    if not (TEXT / "generator.onnx").exists():
        pytest.skip("sample_models/text is not built")
    return TextModel.open(TEXT / "classifier.onnx"), TextGenerator.open(TEXT / "generator.onnx")


@pytest.mark.parametrize("method", ["momentum_es", "cmaes"])
def test_every_class_is_reached_at_p_0_9_with_the_default_budget(sample, method):
    model, decoder = sample
    found = text_exemplars(model, decoder, params=ExemplarParams(method=method, threshold=0.9), rng=0)
    assert [c.target for c in found.result.classes] == [0, 1, 2]
    for group, texts in zip(found.result.classes, found.texts, strict=True):
        (exemplar,) = group.exemplars
        assert exemplar.success and exemplar.confidence >= 0.9
        assert exemplar.queries <= 20_000 + 64  # the default budget; the last generation may overshoot
        (text,) = texts
        assert text.strip()
        # the sentence, read back as text by the classifier, is the exemplar
        assert model.predict([text])[0, group.target] == pytest.approx(exemplar.confidence, abs=1e-6)
    record = found.to_dict()
    assert [e["target_name"] for e in record["exemplars"]] == ["linux", "love", "sports"]
    assert np.isfinite(found.median_queries())
