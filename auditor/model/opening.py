"""Open a model file in this process as what it is meant to be: a classifier, a generator or an encoder."""

from __future__ import annotations

import os
from typing import Literal, overload

from auditor.errors import ArgumentError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator

ModelKind = Literal["classifier", "generator", "encoder"]
#: What a model file can be opened as.
KINDS: tuple[ModelKind, ...] = ("classifier", "generator", "encoder")


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
def open_model(
    path: str | os.PathLike[str], kind: ModelKind, options: OpenOptions
) -> BlackBox | Generator | Encoder: ...
def open_model(
    path: str | os.PathLike[str], kind: ModelKind, options: OpenOptions
) -> BlackBox | Generator | Encoder:
    """Load `path` safely (options.limits) and open it as `kind`; a generator or encoder runs like the classifier."""
    if kind == "classifier":
        return BlackBox.open(path, options)
    if kind == "generator":
        return Generator.open(path, options.session_settings(), options.limits)
    if kind == "encoder":
        return Encoder.open(path, options.session_settings(), options.limits)
    raise ArgumentError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
