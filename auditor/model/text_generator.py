"""A sentence decoder as a text generator: latent z (n, d) -> token logits (n, length, vocabulary),
decoded by argmax into words (as in Barbalau et al.'s text setting, with argmax for their sampling).

The vocabulary comes from the decoder's metadata (`auditor.vocabulary`, a JSON list of tokens, index =
token id) or from a tokenizer.json. Decoding stops at an end token (STOP_TOKENS) and skips the other
bracketed special tokens ([PAD], <s>, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from auditor.errors import ConventionError, DataError
from auditor.model.generator import Generator
from auditor.model.loading import Limits
from auditor.model.session import SessionSettings

VOCABULARY_KEY = "auditor.vocabulary"
STOP_TOKENS = frozenset({"[EOS]", "</s>", "[SEP]", "<eos>", "<|endoftext|>"})
#: Marks written without a space before them when words are joined.
ATTACHED = frozenset(",.;:!?)]}'%")
MAX_VOCABULARY_CHARS = 16 * 2**20


class TextGenerator:
    """A Generator whose output is token logits; `decode` gives token ids and `texts` the sentences."""

    def __init__(self, generator: Generator, vocabulary: Sequence[str]) -> None:
        shape = generator.output_shape
        if len(shape) != 2:
            raise ConventionError(
                f"{generator.path}: a text generator returns token logits (N, length, vocabulary), "
                f"got rows of shape {list(shape)}"
            )
        self.generator = generator
        self.length, size = int(shape[0]), int(shape[1])
        if len(vocabulary) != size:
            raise ConventionError(
                f"{generator.path}: the decoder scores {size} tokens but the vocabulary has {len(vocabulary)}"
            )
        self.vocabulary = tuple(str(token) for token in vocabulary)
        self._stop = np.array([token in STOP_TOKENS for token in self.vocabulary])
        self._skip = np.array([_special(token) and token not in STOP_TOKENS for token in self.vocabulary])

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        vocabulary: Sequence[str] | str | os.PathLike[str] | None = None,
        settings: SessionSettings = SessionSettings(),
        limits: Limits = Limits(),
    ) -> TextGenerator:
        """Load a decoder; its vocabulary from `vocabulary` (tokens, or a tokenizer.json) or its metadata."""
        return cls.of(Generator.open(path, settings, limits), vocabulary)

    @classmethod
    def of(
        cls, generator: Generator, vocabulary: Sequence[str] | str | os.PathLike[str] | None = None
    ) -> TextGenerator:
        """An opened decoder; its vocabulary from `vocabulary` (tokens, or a tokenizer.json) or its metadata."""
        if vocabulary is None:
            tokens = _metadata_vocabulary(generator)
        elif isinstance(vocabulary, str | os.PathLike):
            tokens = tokenizer_vocabulary(Path(vocabulary))
        else:
            tokens = list(vocabulary)
        return cls(generator, tokens)

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def prior(self) -> str:
        return self.generator.prior

    @property
    def queries(self) -> int:
        return self.generator.queries

    @property
    def ort_seconds(self) -> float:
        return self.generator.ort_seconds

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.generator.sample_prior(n, rng)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Token ids (n, length), int64: the argmax of each position's logits."""
        return self.generator.generate(z).argmax(axis=2)

    def texts(self, ids: np.ndarray) -> list[str]:
        """Sentences of token-id rows: words up to the first end token, special tokens left out."""
        ids = np.asarray(ids).astype(np.int64, copy=False)
        if ids.ndim != 2 or (ids.size and (ids.min() < 0 or ids.max() >= len(self.vocabulary))):
            raise DataError(f"token ids must be (n, length) rows of ids below {len(self.vocabulary)}")
        stopped = np.cumsum(self._stop[ids], axis=1) > 0
        shown = ~stopped & ~self._skip[ids]
        return [_join([self.vocabulary[t] for t in row[keep]]) for row, keep in zip(ids, shown)]


def tokenizer_vocabulary(path: Path) -> list[str]:
    """Tokens of a tokenizer.json by id (its model's vocab and its added tokens)."""
    try:
        if path.stat().st_size > MAX_VOCABULARY_CHARS:
            raise DataError(f"{path}: the tokenizer file is over {MAX_VOCABULARY_CHARS >> 20} MiB")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"{path}: not a readable tokenizer.json ({' '.join(str(exc).split())[:200]})"
        ) from None
    by_id: dict[int, str] = {}
    vocab = config.get("model", {}).get("vocab") if isinstance(config, dict) else None
    if isinstance(vocab, dict):
        by_id.update({int(i): str(t) for t, i in vocab.items() if isinstance(i, int)})
    for added in config.get("added_tokens", []) if isinstance(config, dict) else []:
        if isinstance(added, dict) and isinstance(added.get("id"), int):
            by_id[int(added["id"])] = str(added.get("content", ""))
    if not by_id or sorted(by_id) != list(range(len(by_id))):
        raise DataError(f"{path}: the tokenizer's vocabulary is not a list of ids 0..V-1")
    return [by_id[i] for i in range(len(by_id))]


def _metadata_vocabulary(generator: Generator) -> list[str]:
    text = generator.metadata.get(VOCABULARY_KEY)
    if text is None:
        raise ConventionError(
            f"{generator.path}: the decoder does not carry its vocabulary ({VOCABULARY_KEY}); give its tokenizer.json"
        )
    try:
        tokens = json.loads(text) if len(text) <= MAX_VOCABULARY_CHARS else None
    except ValueError:
        tokens = None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ConventionError(f"{generator.path}: {VOCABULARY_KEY} must be a JSON list of tokens")
    return tokens


def _special(token: str) -> bool:
    return len(token) > 2 and (
        (token[0] == "[" and token[-1] == "]") or (token[0] == "<" and token[-1] == ">")
    )


def _join(words: list[str]) -> str:
    parts: list[str] = []
    for word in words:
        if parts and not (word[:1] in ATTACHED and len(word) == 1):
            parts.append(" ")
        parts.append(word)
    return "".join(parts)
