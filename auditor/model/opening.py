"""Open a model file in this process as what it is meant to be: a classifier, a generator or an encoder."""

from __future__ import annotations

import os
from typing import Literal, overload

from auditor.errors import ArgumentError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.text import TextModel

ModelKind = Literal["classifier", "generator", "encoder", "text"]
#: What a model file can be opened as ("text": a text classifier with its tokenizer, `TextModel`).
KINDS: tuple[ModelKind, ...] = ("classifier", "generator", "encoder", "text")


@overload
def open_model(
    path: str | os.PathLike[str], kind: Literal["classifier"], options: OpenOptions
) -> BlackBox: ...
@overload
def open_model(
    path: str | os.PathLike[str], kind: Literal["generator"], options: OpenOptions
) -> Generator: ...
@overload
def open_model(path: str | os.PathLike[str], kind: Literal["encoder"], options: OpenOptions) -> Encoder: ...
@overload
def open_model(path: str | os.PathLike[str], kind: Literal["text"], options: OpenOptions) -> TextModel: ...
@overload
def open_model(
    path: str | os.PathLike[str], kind: ModelKind, options: OpenOptions
) -> BlackBox | Generator | Encoder | TextModel: ...
def open_model(
    path: str | os.PathLike[str], kind: ModelKind, options: OpenOptions
) -> BlackBox | Generator | Encoder | TextModel:
    """Load `path` safely (options.limits) and open it as `kind`; a generator or encoder runs like the classifier."""
    if kind == "classifier":
        return BlackBox.open(path, options)
    if kind == "generator":
        return Generator.open(path, options.session_settings(), options.limits)
    if kind == "encoder":
        return Encoder.open(path, options.session_settings(), options.limits)
    if kind == "text":
        return TextModel.open(path, options=options)
    raise ArgumentError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
