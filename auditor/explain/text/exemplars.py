"""Class exemplars of a text classifier through a sentence decoder (Barbalau et al.'s text setting).

The image machinery of explain/exemplars.py runs unchanged: two adapters make the decoder look like a
Generator of token-id rows (argmax decoding) and the text classifier like a BlackBox over those rows
(the ids become sentences, which the classifier tokenizes its own way). Momentum ES and CMA-ES search
the latent z exactly as for images; every generation is one decoder call and one classifier call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.errors import DataError
from auditor.explain.exemplars import ExemplarParams, ExemplarSet, exemplars
from auditor.explain.exemplars.api import DEFAULT_PARAMS
from auditor.jsonable import jsonable
from auditor.model.text import TextModel
from auditor.model.text_generator import TextGenerator


class _DecodedGenerator:
    """The decoder as a Generator: z -> token ids (as float32 rows of the decoder's length)."""

    def __init__(self, decoder: TextGenerator) -> None:
        self.decoder = decoder
        self.latent_dim = decoder.latent_dim
        self.prior = decoder.prior
        self.output_shape = (decoder.length,)

    def generate(self, z: np.ndarray) -> np.ndarray:
        return self.decoder.decode(z).astype(np.float32)

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.decoder.sample_prior(n, rng)

    @property
    def queries(self) -> int:
        return self.decoder.queries

    @property
    def ort_seconds(self) -> float:
        return self.decoder.ort_seconds


class _DecodedClassifier:
    """The text classifier as a BlackBox over the decoder's token-id rows."""

    layout = "tokens"

    def __init__(self, model: TextModel, decoder: TextGenerator) -> None:
        self.model = model
        self.decoder = decoder
        self.input_shape = (decoder.length,)
        self.n_classes = model.n_classes
        self.class_names = model.class_names

    def prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.decoder.length:
            raise DataError(
                f"token rows of shape {list(x.shape[1:])} are not the decoder's ({self.decoder.length})"
            )
        return x

    def predict(self, x: np.ndarray, cache: bool | int = True) -> np.ndarray:
        return self.model.predict(self.decoder.texts(x))

    @property
    def calls(self) -> int:
        return self.model.calls

    @property
    def ort_seconds(self) -> float:
        return self.model.ort_seconds


@dataclass(frozen=True, eq=False)
class TextExemplars:
    """Exemplar sentences per class, beside the search figures of `result`."""

    result: ExemplarSet
    texts: tuple[tuple[str, ...], ...]  # per class in `result.classes`, one sentence per exemplar
    seed: int | None

    def median_queries(self) -> float:
        """Median classifier queries to the first success over the exemplars that succeeded (NaN if none)."""
        found = [
            e.first_success_queries
            for c in self.result.classes
            for e in c.exemplars
            if e.first_success_queries is not None
        ]
        return float(np.median(found)) if found else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """exemplars.json's keys, each exemplar with its `text`."""
        result = self.result
        return {
            "method": result.method,
            "seed": self.seed,
            "queries": result.queries,
            "generator_queries": result.generator_queries,
            "threshold": result.threshold,
            "budget": result.budget,
            "seconds": result.seconds,
            "exemplars": [
                {
                    "target": e.target,
                    "target_name": group.target_name,
                    "confidence": jsonable(e.confidence),
                    "success": e.success,
                    "queries": e.queries,
                    "first_success_queries": e.first_success_queries,
                    "stop_reason": e.stop_reason,
                    "latent": jsonable(e.latent),
                    "text": text,
                }
                for group, texts in zip(result.classes, self.texts, strict=True)
                for e, text in zip(group.exemplars, texts, strict=True)
            ],
        }


def text_exemplars(
    model: TextModel,
    decoder: TextGenerator,
    targets: int | Sequence[int] | None = None,
    *,
    params: ExemplarParams = DEFAULT_PARAMS,
    rng: np.random.Generator | int,
) -> TextExemplars:
    """`params.per_class` exemplar sentences per target class (None: every class), searched as for images."""
    classifier = _DecodedClassifier(model, decoder)
    result = exemplars(
        classifier,  # type: ignore[arg-type]  # duck-typed: predict/prepare over decoded rows
        _DecodedGenerator(decoder),  # type: ignore[arg-type]
        targets,
        params=params,
        rng=rng,
    )
    texts = tuple(tuple(decoder.texts(group.inputs.astype(np.int64))) for group in result.classes)
    return TextExemplars(result, texts, int(rng) if isinstance(rng, int | np.integer) else None)
