"""Text classifiers: a batch of strings -> token ids (a tokenizer.json read with the `tokenizers` package)
-> the BlackBox's probabilities, with every row counted as a query.

Three kinds of model are read (`TEXT_KINDS`):
- "optimum": Hugging Face Optimum exports, int inputs input_ids, attention_mask and optionally
  token_type_ids (N, length), output logits; each call is padded to its longest row;
- "token_ids": one int input of token ids (an embedding bag or CNN exported from torch); rows are
  padded to a fixed length (the model's, else `max_length`, else the tokenizer's padding length),
  since such a model cannot tell padding from text;
- "strings": one string input (skl2onnx TfidfVectorizer pipelines); no tokenizer needed.

Words are the tokenizer's pre-tokenized words (WORD_PATTERN for string models). Word perturbations
are made on the token ids of the tokenized text: deleting a word drops its tokens and closes the gap,
masking puts the mask (or unknown) token in place of each of its tokens. For word-level, WordPiece and
whitespace-split tokenizers that equals tokenizing the edited text, and it costs no tokenization.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from auditor.errors import ArgumentError, ConventionError, DataError, ModelError
from auditor.model.blackbox import PROBE_ROWS, BlackBox, OpenOptions
from auditor.model.calibration import MEMORY_BUDGETS, largest_intermediate
from auditor.model.loading import Limits, LoadedModel, load_model
from auditor.model.signature import INT_TYPES, STRING_TYPE, TOKEN_INPUTS, InputSpec

TEXT_KINDS = ("optimum", "token_ids", "strings")
#: How a word is taken out of a text: dropped, or replaced by the mask token or the unknown token.
REMOVALS = ("delete", "mask", "unk")
DEFAULT_REMOVAL = "delete"
#: Words of texts for string models (and the fallback word split): runs of word characters, or one mark.
WORD_PATTERN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
#: What replaces a masked word for a string model (lime's choice: a word no vocabulary has).
PLACEHOLDER_WORD = "UNKWORDZ"
DEFAULT_MAX_LENGTH = 512
#: Tokens per ONNX Runtime call (rows x length), unless the model's memory footprint allows fewer.
TOKENS_PER_CALL = 1 << 16
MAX_ROWS_PER_CALL = 8192
STRING_ROWS_PER_CALL = 4096
SIDECAR_BYTES = 16 * 2**20
PAD_NAMES = ("[PAD]", "<pad>", "<PAD>", "[pad]")
UNK_NAMES = ("[UNK]", "<unk>", "<UNK>", "[unk]")
MASK_NAMES = ("[MASK]", "<mask>", "<MASK>", "[mask]")


def _tokenizers() -> Any:
    """The `tokenizers` package, imported on first use: it is an optional extra."""
    try:
        import tokenizers  # optional extra [text]; most audits never read text
    except ImportError:
        raise ConventionError(
            "token-id models need the `tokenizers` package: pip install 'onnx-auditor[text]'"
        ) from None
    return tokenizers


def _first_id(tokenizer: Any, names: Sequence[str]) -> int | None:
    for name in names:
        found = tokenizer.token_to_id(name)
        if found is not None:
            return int(found)
    return None


@dataclass(frozen=True)
class TokenBatch:
    """Token rows padded to one length: ids, attention mask and token types, each (n, length) int64."""

    ids: np.ndarray
    attention: np.ndarray
    types: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.attention.sum(axis=1)

    def __len__(self) -> int:
        return len(self.ids)


class TextTokenizer:
    """A tokenizer.json read with the `tokenizers` package: batch encoding and its special token ids."""

    def __init__(self, path: str | os.PathLike[str], max_length: int | None = None) -> None:
        self.path = Path(path)
        tokenizers = _tokenizers()
        _check_sidecar(self.path, "tokenizer")
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(str(self.path))
        except Exception as exc:  # tokenizers raises a plain Exception for unreadable JSON
            raise DataError(f"{self.path}: not a readable tokenizer.json ({_brief(exc)})") from None
        padding = self.tokenizer.padding or {}
        self.pad_id = (
            int(padding["pad_id"]) if "pad_id" in padding else _first_id(self.tokenizer, PAD_NAMES) or 0
        )
        self.fixed_length = int(padding["length"]) if padding.get("length") else None
        truncation = self.tokenizer.truncation or {}
        self.declared_max_length = int(truncation["max_length"]) if truncation.get("max_length") else None
        model_unk = getattr(self.tokenizer.model, "unk_token", None)
        self.unk_id = (
            self.tokenizer.token_to_id(model_unk) if isinstance(model_unk, str) else None
        ) or _first_id(self.tokenizer, UNK_NAMES)
        self.mask_id = _first_id(self.tokenizer, MASK_NAMES)
        self.kind = type(self.tokenizer.model).__name__
        self.tokenizer.no_padding()
        self.max_length = 0
        self.truncate(max_length or self.declared_max_length or DEFAULT_MAX_LENGTH)

    def truncate(self, max_length: int) -> None:
        """Cut every encoding to max_length tokens, special tokens included."""
        self.max_length = int(max_length)
        self.tokenizer.enable_truncation(self.max_length)

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def encode(self, texts: Sequence[str]) -> list[Any]:
        """One `tokenizers.Encoding` per text (truncated to max_length, specials added)."""
        try:
            return list(self.tokenizer.encode_batch(list(texts)))
        except TypeError:
            raise DataError("texts must be strings") from None

    def batch(self, encodings: Sequence[Any], length: int | None = None) -> TokenBatch:
        """Encodings as padded arrays, to `length` (cut there) or to the longest one."""
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        if length is not None:
            lengths = np.minimum(lengths, length)
        width = int(length if length is not None else (lengths.max() if len(lengths) else 0))
        filled = np.arange(width)[None, :] < lengths[:, None]
        ids = np.full((len(encodings), width), self.pad_id, np.int64)
        types = np.zeros((len(encodings), width), np.int64)
        chain = itertools.chain.from_iterable
        ids[filled] = np.fromiter(chain(e.ids[:n] for e, n in zip(encodings, lengths)), np.int64)
        types[filled] = np.fromiter(chain(e.type_ids[:n] for e, n in zip(encodings, lengths)), np.int64)
        return TokenBatch(ids, filled.astype(np.int64), types)


@dataclass(frozen=True, eq=False)
class Segmented:
    """One text split into words, with its token rows and the word each token belongs to (-1: special)."""

    text: str
    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    tokens: TokenBatch | None = None  # one row; None for string models
    word_of_token: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def edited(self, changes: Mapping[int, str]) -> str:
        """The text with word i replaced by changes[i] ("" deletes it, with one space next to it)."""
        parts: list[str] = []
        last = 0
        for i in sorted(changes):
            start, stop = self.spans[i]
            parts.append(self.text[last:start])
            parts.append(changes[i])
            last = stop
            if not changes[i] and self.text[last : last + 1].isspace():
                last += 1
        parts.append(self.text[last:])
        return "".join(parts)


class TextModel:
    """A text classifier behind `predict(texts)`: probabilities (n, K) float32, every row a counted query."""

    def __init__(
        self,
        blackbox: BlackBox,
        tokenizer: TextTokenizer | None,
        kind: str,
        length: int | None,
        class_names: tuple[str, ...],
    ) -> None:
        self.blackbox = blackbox
        self.tokenizer = tokenizer
        self.kind = kind
        self.length = length  # the fixed padded length; None: each call padded to its longest row
        self.class_names = class_names
        self._footprints: dict[int, int | None] = {}
        runner = blackbox.runner
        if not runner.fixed_batch:  # one call per chunk that this class cuts to the tokens per call
            runner.batch_size = blackbox.options.batch_size or MAX_ROWS_PER_CALL

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        tokenizer: str | os.PathLike[str] | None = None,
        max_length: int | None = None,
        options: OpenOptions = OpenOptions(),
    ) -> TextModel:
        """Load a text classifier; its tokenizer.json and config.json (id2label) default to the model's folder
        (`tokenizer` and `max_length` default to the options')."""
        return cls.from_loaded(
            load_model(path, options.limits), tokenizer=tokenizer, max_length=max_length, options=options
        )

    @classmethod
    def from_loaded(
        cls,
        model: LoadedModel,
        *,
        tokenizer: str | os.PathLike[str] | None = None,
        max_length: int | None = None,
        options: OpenOptions = OpenOptions(),
    ) -> TextModel:
        """A text classifier over an already checked model (e.g. one vetted in the sandbox)."""
        tokenizer = tokenizer if tokenizer is not None else options.tokenizer
        max_length = max_length if max_length is not None else options.max_length
        if max_length is not None and (isinstance(max_length, bool) or int(max_length) < 1):
            raise ArgumentError(f"max_length must be a positive number of tokens, got {max_length!r}")
        kind = text_kind(model)
        folder = model.path.parent
        text_tokenizer = None
        length = None
        if kind != "strings":
            found = Path(tokenizer) if tokenizer is not None else folder / "tokenizer.json"
            if not found.is_file():
                raise ConventionError(
                    f"{model.path} takes token ids; give its tokenizer.json with --tokenizer"
                    + (f" ({found} does not exist)" if tokenizer is not None else "")
                )
            text_tokenizer = TextTokenizer(found, max_length)
            length = _declared_length(model)
            if length is None and kind == "token_ids":
                length = max_length or text_tokenizer.fixed_length
                if length is None:
                    raise ConventionError(
                        f"{model.path} takes token ids of any length and no attention mask; give the length "
                        "its rows were padded to in training with --max-length"
                    )
            if length is not None:
                text_tokenizer.truncate(length)
        layout = "text" if kind == "strings" else "tokens"
        probe = (length,) if length else None
        opened = replace(options, layout=layout, input_shape=probe, class_names=None, cache=False)
        make_probe = None if text_tokenizer is None else _token_probe(text_tokenizer.vocab_size)
        try:
            blackbox = BlackBox.from_loaded(model, opened, make_probe)
        except ModelError as exc:
            raise _locale_error(model, exc) from None
        names = (
            options.class_names or _sidecar_class_names(folder, blackbox.n_classes) or blackbox.class_names
        )
        if len(names) != blackbox.n_classes:
            raise ConventionError(
                f"{len(names)} class names given but the model has {blackbox.n_classes} classes; fix class_names"
            )
        return cls(blackbox, text_tokenizer, kind, length, tuple(names))

    # -------------------------------------------------------------- counters and facts

    @property
    def n_classes(self) -> int:
        return self.blackbox.n_classes

    @property
    def path(self) -> Path:
        return self.blackbox.path

    @property
    def model(self) -> LoadedModel:
        return self.blackbox.model

    @property
    def queries(self) -> int:
        return self.blackbox.queries

    @property
    def calls(self) -> int:
        return self.blackbox.calls

    @property
    def ort_seconds(self) -> float:
        return self.blackbox.ort_seconds

    @property
    def max_length(self) -> int | None:
        return self.tokenizer.max_length if self.tokenizer is not None else None

    def describe(self) -> dict[str, Any]:
        """What `inspect` says of a text model: its kind, inputs, tokenizer and length."""
        tok = self.tokenizer
        return {
            "kind": self.kind,
            "inputs": list(self.blackbox.signature.input.names),
            "tokenizer": None
            if tok is None
            else {
                "path": str(tok.path),
                "model": tok.kind,
                "vocab_size": tok.vocab_size,
                "pad_id": tok.pad_id,
                "unk_id": tok.unk_id,
                "mask_id": tok.mask_id,
            },
            "max_length": self.max_length,
            "padding": "none" if tok is None else ("fixed" if self.length else "longest"),
            "class_names": list(self.class_names),
        }

    # -------------------------------------------------------------- prediction

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities (n, K) of the texts, tokenized and scored in as few ONNX Runtime calls as memory allows."""
        texts = _strings(texts)
        if self.tokenizer is None:
            return self._predict_strings(texts)
        if not texts:
            return np.empty((0, self.n_classes), np.float32)
        return self.predict_tokens(self.encode(texts))

    def encode(self, texts: Sequence[str]) -> TokenBatch:
        """Token rows of the texts, padded to the model's length (or the longest row)."""
        tokenizer = self._tokenizer()
        return tokenizer.batch(tokenizer.encode(texts), self.length)

    def predict_tokens(self, batch: TokenBatch) -> np.ndarray:
        """Probabilities of token rows; rows are sorted by length so that each call pads only to its own longest."""
        n = len(batch)
        out = np.empty((n, self.n_classes), np.float32)
        if n == 0:
            return out
        lengths = batch.lengths
        order = np.argsort(lengths, kind="stable") if self.length is None else np.arange(n)
        sorted_lengths = lengths[order]
        start = 0
        while start < n:
            stop = self._chunk_stop(sorted_lengths, start)
            rows = order[start:stop]
            width = self.length or max(1, int(sorted_lengths[stop - 1]))
            out[rows] = self._run_tokens(
                batch.ids[rows, :width], batch.attention[rows, :width], batch.types[rows, :width]
            )
            start = stop
        return out

    def segment(self, text: str) -> Segmented:
        """The text's words (the tokenizer's pre-tokenized words), their character spans and token rows."""
        (text,) = _strings([text])
        if self.tokenizer is None:
            found = list(WORD_PATTERN.finditer(text))
            return Segmented(text, tuple(m.group() for m in found), tuple(m.span() for m in found))
        (encoding,) = self.tokenizer.encode([text])
        tokens = self.tokenizer.batch([encoding], self.length)
        width = tokens.ids.shape[1]
        raw = [-1 if w is None else int(w) for w in encoding.word_ids[:width]]
        offsets = encoding.offsets[:width]
        spans: dict[int, tuple[int, int]] = {}
        for word, (begin, end) in zip(raw, offsets):
            if word >= 0 and end > begin:
                lo, hi = spans.get(word, (begin, end))
                spans[word] = (min(lo, begin), max(hi, end))
        numbering = {word: i for i, word in enumerate(sorted(spans, key=lambda w: spans[w]))}
        word_of_token = np.array([numbering.get(w, -1) for w in raw] + [-1] * (width - len(raw)), np.int64)
        ordered = [spans[w] for w in sorted(spans, key=lambda w: spans[w])]
        return Segmented(text, tuple(text[a:b] for a, b in ordered), tuple(ordered), tokens, word_of_token)

    def predict_kept(
        self, segmented: Segmented, keep: np.ndarray, removal: str = DEFAULT_REMOVAL
    ) -> np.ndarray:
        """Probabilities of copies of a text that keep word j where keep[i, j], and remove it elsewhere."""
        keep = np.asarray(keep, dtype=bool)
        if keep.ndim != 2 or keep.shape[1] != len(segmented):
            raise ArgumentError(
                f"keep must be (rows, {len(segmented)}) for this text, got {list(keep.shape)}"
            )
        if removal not in REMOVALS:
            raise ArgumentError(f"unknown removal {removal!r}; use one of {', '.join(REMOVALS)}")
        if segmented.tokens is None or segmented.word_of_token is None:
            fill = "" if removal == "delete" else PLACEHOLDER_WORD
            texts = [segmented.edited({j: fill for j in np.flatnonzero(~row).tolist()}) for row in keep]
            return self._predict_strings(texts)
        tokens, owner = segmented.tokens, segmented.word_of_token
        kept = np.ones((len(keep), owner.size), bool)
        words = owner >= 0
        kept[:, words] = keep[:, owner[words]]
        kept &= tokens.attention.astype(bool)
        ids = np.repeat(tokens.ids, len(keep), axis=0)
        types = np.repeat(tokens.types, len(keep), axis=0)
        attention = np.repeat(tokens.attention, len(keep), axis=0)
        if removal == "delete":
            order = np.argsort(~kept, axis=1, kind="stable")  # kept tokens first, in their order
            ids = np.take_along_axis(ids, order, axis=1)
            types = np.take_along_axis(types, order, axis=1)
            attention = np.take_along_axis(kept, order, axis=1).astype(np.int64)
            ids[attention == 0] = self._tokenizer().pad_id
            types[attention == 0] = 0
        else:
            ids = np.where(kept | (tokens.attention == 0), ids, self._special(removal))
        return self.predict_tokens(TokenBatch(ids, attention, types))

    # -------------------------------------------------------------- internals

    def _tokenizer(self) -> TextTokenizer:
        if self.tokenizer is None:
            raise ArgumentError("this model takes strings; it has no tokenizer")
        return self.tokenizer

    def _special(self, removal: str) -> int:
        tokenizer = self._tokenizer()
        found = tokenizer.mask_id if removal == "mask" else tokenizer.unk_id
        if found is None:
            what = "mask" if removal == "mask" else "unknown-word"
            raise ArgumentError(
                f"{tokenizer.path} has no {what} token; remove words with removal='delete' instead"
            )
        return found

    def _predict_strings(self, texts: list[str]) -> np.ndarray:
        spec = self.blackbox.signature.input
        if spec.layout != "text":
            raise ArgumentError("this model takes token ids; texts go through its tokenizer")
        out = np.empty((len(texts), self.n_classes), np.float32)
        rows = np.empty(len(texts), dtype=object)
        rows[:] = texts
        rows = rows.reshape(len(texts), *spec.sample_shape)
        for start in range(0, len(texts), STRING_ROWS_PER_CALL):
            chunk = rows[start : start + STRING_ROWS_PER_CALL]
            (values,) = self.blackbox.runner.run(chunk, [self.blackbox.fetch])
            out[start : start + len(chunk)] = self.blackbox.probabilities(values)
        return out

    def _chunk_stop(self, sorted_lengths: np.ndarray, start: int) -> int:
        """End of the call that starts at sorted row `start`: as many rows as fit the tokens per call."""
        n = len(sorted_lengths)
        if self.length is not None:
            return min(n, start + self._rows_per_call(self.length))
        # sorted ascending: a call's last row is its longest, and fewer rows never need more tokens
        stop = min(n, start + self._rows_per_call(int(sorted_lengths[start])))
        while stop - start > (fit := self._rows_per_call(int(sorted_lengths[stop - 1]))):
            stop = start + fit
        return stop

    def _rows_per_call(self, length: int) -> int:
        """Rows of `length` tokens per call: TOKENS_PER_CALL, fewer when the model's activations need it."""
        length = max(1, length)
        bucket = 1 << (length - 1).bit_length()
        if bucket not in self._footprints:
            self._footprints[bucket] = self._row_bytes(bucket)
        rows = TOKENS_PER_CALL // length
        row_bytes = self._footprints[bucket]
        if row_bytes:
            rows = min(rows, MEMORY_BUDGETS[self.blackbox.provider] // (2 * row_bytes))
        return int(max(1, min(self.blackbox.runner.batch_size, rows)))

    def _row_bytes(self, length: int) -> int | None:
        return largest_intermediate(self.blackbox.model.proto, (length,), input_dims=(1, length))

    def _run_tokens(self, ids: np.ndarray, attention: np.ndarray, types: np.ndarray) -> np.ndarray:
        rows = stack_inputs(self.blackbox.signature.input, TokenBatch(ids, attention, types))
        (values,) = self.blackbox.runner.run(rows, [self.blackbox.fetch])
        return self.blackbox.probabilities(values)


def stack_inputs(spec: InputSpec, batch: TokenBatch) -> np.ndarray:
    """Rows as the BlackBox feeds them: the ids (one input), or the inputs stacked as (n, inputs, length)."""
    if len(spec.names) == 1:
        return batch.ids
    planes = {"input_ids": batch.ids, "attention_mask": batch.attention, "token_type_ids": batch.types}
    return np.stack([planes[name] for name in spec.names], axis=1)


def _token_probe(vocab_size: int) -> Callable[[InputSpec], np.ndarray]:
    """Probe rows of random ids from the tokenizer's vocabulary (fixed seed), full attention."""

    def rows(spec: InputSpec) -> np.ndarray:
        ids = np.random.default_rng(0).integers(0, max(1, vocab_size), (PROBE_ROWS, spec.sample_shape[-1]))
        return stack_inputs(spec, TokenBatch(ids, np.ones_like(ids), np.zeros_like(ids)))

    return rows


def declares_text(path: str | os.PathLike[str], limits: Limits = Limits()) -> bool:
    """Whether a model file's inputs are text's (one string input, or an int input named input_ids), read
    without checking the model: False for any file that cannot be read (its proper load says why)."""
    try:
        if Path(path).stat().st_size > limits.max_file_bytes:
            return False
        proto = onnx.load_model(os.fspath(path), load_external_data=False)
    except Exception:  # onnx raises assorted errors for bad files; the real load reports them
        return False
    initializers = {t.name for t in proto.graph.initializer}
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input if i.name not in initializers}
    string, ints = onnx.TensorProto.STRING, (onnx.TensorProto.INT32, onnx.TensorProto.INT64)
    return (len(types) == 1 and string in types.values()) or types.get("input_ids") in ints


def text_kind(model: LoadedModel) -> str:
    """Which of TEXT_KINDS a model is, read from its declared inputs; ConventionError when none fits."""
    initializers = {t.name for t in model.proto.graph.initializer}
    inputs = [i for i in model.proto.graph.input if i.name not in initializers]
    types = {i.name: i.type.tensor_type.elem_type for i in inputs}
    names = ", ".join(types)
    string = 8  # onnx.TensorProto.STRING
    ints = (6, 7)  # INT32, INT64
    if len(inputs) == 1 and types[inputs[0].name] == string:
        return "strings"
    if len(inputs) == 1 and types[inputs[0].name] in ints:
        return "token_ids"
    if len(inputs) > 1 and "input_ids" in types:
        unknown = [name for name in types if name not in TOKEN_INPUTS]
        if unknown:
            raise ConventionError(
                f"{model.path}: the model's inputs are {names}; a text model takes input_ids, attention_mask "
                f"and optionally token_type_ids, and '{unknown[0]}' is not one of them"
            )
        if any(t not in ints for t in types.values()):
            raise ConventionError(f"{model.path}: token inputs ({names}) must be int32 or int64 tensors")
        return "optimum"
    raise ConventionError(
        f"{model.path}: inputs {names} are not a text model's (input_ids [+ attention_mask, token_type_ids], "
        f"one int tensor of token ids, or one string tensor; {STRING_TYPE} / {'/'.join(INT_TYPES)})"
    )


def _declared_length(model: LoadedModel) -> int | None:
    """The fixed sequence length of input_ids (or the only input), None when the axis is dynamic."""
    initializers = {t.name for t in model.proto.graph.initializer}
    inputs = [i for i in model.proto.graph.input if i.name not in initializers]
    main = next((i for i in inputs if i.name == "input_ids"), inputs[0])
    dims = main.type.tensor_type.shape.dim
    if len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 0:
        return int(dims[1].dim_value)
    return None


def _strings(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        raise ArgumentError("give a list of texts, not one string")
    out = list(texts)
    for text in out:
        if not isinstance(text, str):
            raise ArgumentError(f"texts must be strings, got {type(text).__name__}")
    return out


def _check_sidecar(path: Path, what: str) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({_brief(exc)})") from None
    if size > SIDECAR_BYTES:
        raise DataError(
            f"{path}: the {what} file is {size / 2**20:.0f} MiB, over the {SIDECAR_BYTES >> 20} MiB limit"
        )


def _sidecar_class_names(folder: Path, n_classes: int) -> tuple[str, ...] | None:
    """Class names from a Hugging Face config.json (id2label) beside the model, when it names K classes."""
    path = folder / "config.json"
    if not path.is_file():
        return None
    _check_sidecar(path, "config.json")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable JSON config ({_brief(exc)})") from None
    labels = config.get("id2label") if isinstance(config, dict) else None
    if not isinstance(labels, dict) or not labels:
        return None
    try:
        by_index = {int(key): str(value) for key, value in labels.items()}
    except (TypeError, ValueError):
        raise DataError(f"{path}: id2label keys must be class indices") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise DataError(f"{path}: id2label must name classes 0..K-1 without gaps")
    if len(by_index) != n_classes:
        raise ConventionError(
            f"{path}: id2label names {len(by_index)} classes but the model has {n_classes}; fix config.json"
        )
    return tuple(by_index[i] for i in range(n_classes))


def _locale_error(model: LoadedModel, exc: ModelError) -> ModelError:
    """A clear line for skl2onnx text pipelines whose StringNormalizer asks for a locale this machine lacks."""
    if "locale" not in str(exc):
        return exc
    locales = sorted(
        {
            next(
                (a.s.decode("utf-8", "replace") for a in node.attribute if a.name == "locale"), "en_US.UTF-8"
            )
            for node in model.proto.graph.node
            if node.op_type == "StringNormalizer"
        }
    ) or ["(unnamed)"]
    return ModelError(
        f"{model.path}: the model's text normalizer needs the locale {', '.join(locales)}, which this machine "
        "lacks; install it (Debian: locales-all) or export the pipeline with locale='C.UTF-8' "
        "(skl2onnx: options={TfidfVectorizer: {'locale': 'C.UTF-8'}})"
    )


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
